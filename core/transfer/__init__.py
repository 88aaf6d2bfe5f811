"""Transfer of a depth model to a new imaging condition without depth maps.

``objectives`` (the losses and AdaBN), ``finetune`` (:func:`finetune` from a source model
for a time budget, always anchored by the supervised loss on the labelled source data) and
``stage`` (:class:`TransferRequest` and :func:`run_transfer_stage`: the stage after
``semdepth train``). No argparse here: the CLI builds the request.
"""

from core.transfer.finetune import (
    FinetuneConfig,
    FinetuneResult,
    attach_average_depth,
    finetune,
    shot_pairs,
)
from core.transfer.objectives import (
    OBJECTIVES,
    MaskedReconstruction,
    ShotConsistency,
    TransferError,
    adapt_batchnorm,
    average_depth_loss,
)
from core.transfer.stage import (
    FINETUNED_NAME,
    TransferRequest,
    TransferSettingError,
    run_transfer_stage,
)

__all__ = [
    "FINETUNED_NAME",
    "OBJECTIVES",
    "FinetuneConfig",
    "FinetuneResult",
    "MaskedReconstruction",
    "ShotConsistency",
    "TransferError",
    "TransferRequest",
    "TransferSettingError",
    "adapt_batchnorm",
    "attach_average_depth",
    "average_depth_loss",
    "finetune",
    "run_transfer_stage",
    "shot_pairs",
]
