"""SMORE through ECLARE, an external tool (declared in ``isosr.methods.catalog``)."""
