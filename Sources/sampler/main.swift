print("tandem-sampler: not yet implemented")
