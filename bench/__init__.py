"""On-demand benchmarks (`make bench`): speed claims as ratios against a baseline in the same process."""
