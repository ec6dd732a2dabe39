"""Item response theory for evaluations: response matrices, IRT fits (NumPyro), anchor points,
p-IRT / gp-IRT estimates with intervals, leave-one-model-out validation, KNN item-parameter
transfer and routing (the tinyBenchmarks method, Maia Polo et al. 2024, extended).

No Dagster imports; JAX / NumPyro are imported only when a model is fitted. One module per stage:

    responses   samples -> ResponseMatrix (binarisation rule, epochs, validation)
    models      fit_irt -> IRTFit (1PL / 2PL / MIRT; SVI, MAP, NUTS; NetCDF via ArviZ)
    anchors     select_anchors -> AnchorPoints (weighted k-means, anchor nearest the centroid)
    estimators  estimate_performance (anchor, p-IRT, gp-IRT with intervals), gp_parameters
    validation  leave_one_model_out, summarise_validation
    transfer    KNN transfer of item parameters through a text embedding (TF-IDF by default)
    routing     evaluate_routing, route, routing_report
    io          read_routerdc
    baseline    fit_2pl_jml: plain NumPy/SciPy penalised JML 2PL (benchmark reference, cross-check)
    plots       plot_anchor_clusters, plot_routing, plot_estimates
    config      IRTConfig (from a YAML mapping, did-you-mean errors)

Typical use::

    cfg = IRTConfig.from_yaml("analysis.yaml")               # the `irt:` section
    rm = build_response_matrix(samples_df, cfg)
    train, new = split_respondents(rm, cfg.new_models)
    fit = fit_irt(train, cfg)
    anchors = select_anchors(train, cfg.n_anchors, fit=fit, space=cfg.anchor_space, seed=cfg.seed)
    gp = gp_parameters(train, fit, anchors, cfg)
    estimates = estimate_performance(fit, anchors, new, gp=gp, config=cfg)
"""

from hibayes.irt.anchors import AnchorPoints, item_representation, random_anchors, select_anchors
from hibayes.irt.baseline import JMLFit, fit_2pl_jml
from hibayes.irt.config import BinariseRule, IRTConfig, IRTConfigError, parse_binarise_rule
from hibayes.irt.estimators import (
    GPParams,
    ThetaFit,
    anchor_estimate,
    anchor_standard_error,
    estimate_performance,
    fit_theta,
    gp_lambda,
    gp_parameters,
    gpirt_estimate,
    pirt_estimate,
    theta_posterior_draws,
)
from hibayes.irt.io import RouterDCFormatError, read_routerdc
from hibayes.irt.models import LOGIT_FORMULA, IRTFit, fit_irt, from_tinybenchmarks, to_tinybenchmarks
from hibayes.irt.plots import plot_anchor_clusters, plot_estimates, plot_routing, save_figure
from hibayes.irt.responses import (
    ResponseError,
    ResponseMatrix,
    balance_weights,
    binarise_scores,
    build_response_matrix,
    item_weights,
    match_mean_threshold,
    response_matrix_from_arrays,
    split_respondents,
    validate_response_matrix,
    wide_select_sql,
)
from hibayes.irt.routing import RoutingResult, evaluate_routing, route, routing_report, split_items
from hibayes.irt.simulate import SimulatedIRT, sigmoid, simulate_irt
from hibayes.irt.transfer import (
    EmbeddingBackend,
    Neighbours,
    TfidfEmbedding,
    TransferredItems,
    get_embedding,
    knn_correctness,
    nearest_items,
    register_embedding,
    transfer_item_parameters,
    transfer_probabilities,
)
from hibayes.irt.validation import leave_one_model_out, summarise_validation

__all__ = [
    "AnchorPoints",
    "BinariseRule",
    "EmbeddingBackend",
    "GPParams",
    "IRTConfig",
    "IRTConfigError",
    "IRTFit",
    "JMLFit",
    "LOGIT_FORMULA",
    "Neighbours",
    "ResponseError",
    "ResponseMatrix",
    "RouterDCFormatError",
    "RoutingResult",
    "SimulatedIRT",
    "TfidfEmbedding",
    "ThetaFit",
    "TransferredItems",
    "anchor_estimate",
    "anchor_standard_error",
    "balance_weights",
    "binarise_scores",
    "build_response_matrix",
    "estimate_performance",
    "evaluate_routing",
    "fit_2pl_jml",
    "fit_irt",
    "fit_theta",
    "from_tinybenchmarks",
    "get_embedding",
    "gp_lambda",
    "gp_parameters",
    "gpirt_estimate",
    "item_representation",
    "item_weights",
    "knn_correctness",
    "leave_one_model_out",
    "match_mean_threshold",
    "nearest_items",
    "parse_binarise_rule",
    "pirt_estimate",
    "plot_anchor_clusters",
    "plot_estimates",
    "plot_routing",
    "random_anchors",
    "read_routerdc",
    "register_embedding",
    "response_matrix_from_arrays",
    "route",
    "routing_report",
    "save_figure",
    "select_anchors",
    "sigmoid",
    "simulate_irt",
    "split_items",
    "split_respondents",
    "summarise_validation",
    "theta_posterior_draws",
    "to_tinybenchmarks",
    "transfer_item_parameters",
    "transfer_probabilities",
    "validate_response_matrix",
    "wide_select_sql",
]
