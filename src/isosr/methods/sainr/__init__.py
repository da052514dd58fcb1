"""SA-INR (Wang et al.): arbitrary reduction of slice spacing by a CNN encoder, local spatial
attention over the neighbouring slices and an implicit decoder, trained on a cohort (declared in
``isosr.methods.catalog``)."""
