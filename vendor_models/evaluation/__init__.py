"""Evaluation: InterCLIP-style evaluator, InterGen's metrics, physical metrics, baselines (`intermask eval`).
Imported by its command-line entry point and the tests; never by the add-on.

Kept free of imports so `import vendor_models.evaluation.metrics` does not pull in torch.
"""
