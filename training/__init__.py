"""Training, evaluation, calibration, model cards and SageMaker launch for mmsa models."""
