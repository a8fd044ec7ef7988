"""Stage 06: the paper's figures and tables, preference evaluation, reference numbers."""
