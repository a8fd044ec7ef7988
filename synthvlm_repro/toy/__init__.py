"""A toy world small enough for a CPU, in which every model the pipeline needs is trained from scratch.

``world`` renders scenes and captions them; ``registry`` trains and caches the models (``toy:<name>``
references); ``benchmarks`` writes benchmarks of the world in LLaVA's file layouts; ``experiment`` runs
the paper's claim (selected synthetic pretraining data beats random candidates) as arms x seeds.
"""
