"""LRTV (Shi et al. 2015), our implementation (declared in ``isosr.methods.catalog``)."""
