"""Trust in verdicts: agreement with gold labels, calibrated probabilities, abstention, cascades.

- :mod:`~edgejudge.trust.metrics`: accuracy, Cohen's kappa, ECE, Brier, confusion, bootstrap
  intervals, position consistency, length bias (``edgejudge eval``).
- :mod:`~edgejudge.trust.calibration`: temperature scaling with a bias per label, fitted on gold
  labels (``edgejudge calibrate``); :mod:`~edgejudge.trust.store` keeps it beside the model and
  applies it to verdicts, :mod:`~edgejudge.trust.schema` checks it when read back.
- :mod:`~edgejudge.trust.abstain`: thresholds, fixed or chosen for a target error rate, over the
  independent items that :mod:`~edgejudge.trust.clusters` finds.
- :mod:`~edgejudge.trust.cascade`: :class:`TrustedJudge`, a judge that abstains or escalates.
- :mod:`~edgejudge.trust.report`: the evaluation as a self-contained HTML page.
"""

__all__ = ["TrustedJudge"]


def __getattr__(name: str):
    if name == "TrustedJudge":
        from edgejudge.trust.cascade import TrustedJudge

        return TrustedJudge
    raise AttributeError(f"module 'edgejudge.trust' has no attribute {name!r}")
