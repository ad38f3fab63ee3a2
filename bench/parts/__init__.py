"""The benchmark parts; each has ``run(ctx: BenchContext) -> PartResult``."""
