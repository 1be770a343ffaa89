"""Operating the platform: benchmarks (and, later, maintenance and recovery commands)."""
