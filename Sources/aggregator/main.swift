print("tandem-aggregator: not yet implemented")
