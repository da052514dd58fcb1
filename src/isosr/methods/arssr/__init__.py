"""ArSSR (Wu et al. 2023): arbitrary-scale super-resolution by a CNN encoder and an implicit
decoder, trained on a cohort (declared in ``isosr.methods.catalog``)."""
