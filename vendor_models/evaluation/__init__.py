"""Evaluation: InterCLIP-style evaluator, InterGen's metrics, physical metrics, baselines (`intermask eval`).

Kept free of imports so `import vendor_models.evaluation.metrics` does not pull in torch.
"""
