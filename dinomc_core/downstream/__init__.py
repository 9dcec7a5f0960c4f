"""From a pretrained encoder to task models: linear probe, k-NN, fine-tuning, change detection, whole-set metrics.

The inference engine uses :func:`load_task_model`; ``python -m dinomc_core.finetune`` drives the rest.
"""
from dinomc_core.downstream.change_model import ChangeModel
from dinomc_core.downstream.task_model import ChipClassifier, KnnHead, LinearHead, load_task_model, save_task_model

__all__ = ["ChangeModel", "ChipClassifier", "KnnHead", "LinearHead", "load_task_model", "save_task_model"]
