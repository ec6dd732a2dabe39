"""Dagster definitions over the `hibayes` library (see definitions.py)."""

import warnings

import dagster as dg

# Partitioned asset checks and the multi-to-single partition mapping are marked preview/beta; we
# depend on them knowingly (the fit grid needs both), so their warnings would only be noise.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)
