"""Graph optimization passes. Each pass is a pure function ``(graph, backend) -> graph``.

The backend is the one the graph will run on, given explicitly (never the default
device's): constant folding runs its kernels, simplification makes its constants,
fusion asks which steps it has loops for. Passes read what they need to know about
a primitive from its registration block (``Primitive.elementwise``, ``.fresh``,
``.random``, ``.effect``), never from lists of names.

``optimize`` runs the default pipeline and checks the graph with ``verify``
after every pass, so a broken pass fails where it breaks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nerve.backend.base import Backend
from nerve.graph.ir import Graph
from nerve.graph.passes.attention import fuse_attention
from nerve.graph.passes.concat_loops import write_concatenations_in_loops
from nerve.graph.passes.cse import cse
from nerve.graph.passes.dce import dce
from nerve.graph.passes.epilogues import (
    fold_bias_relu_into_products,
    fold_relu_masks_into_products,
)
from nerve.graph.passes.fold import fold_constants
from nerve.graph.passes.fuse import fuse
from nerve.graph.passes.hoist import hoist_invariants
from nerve.graph.passes.layer_norm import fuse_layer_norm_gradients, fuse_layer_norm_statistics
from nerve.graph.passes.negated_sums import sum_before_negating
from nerve.graph.passes.patches import fold_patches_into_products, fold_products_into_patches
from nerve.graph.passes.pool_masks import mask_window_scatters
from nerve.graph.passes.scan_bias import add_biases_in_scans
from nerve.graph.passes.scan_operands import drop_unused_scan_operands, read_transposed_stacks
from nerve.graph.passes.scan_sums import sum_products_after_scans
from nerve.graph.passes.schedule import schedule_collectives
from nerve.graph.passes.share_scans import share_scans
from nerve.graph.passes.siblings import merge_sibling_products
from nerve.graph.passes.simplify import simplify
from nerve.graph.passes.softmax import fuse_softmax_gradients, fuse_softmax_rows
from nerve.graph.passes.split_loops import read_splits_in_loops, split_before_elementwise
from nerve.graph.passes.verify import verify

Pass = Callable[[Graph, Backend], Graph]

#: simplify runs before folding, so broadcasts it makes redundant are dropped by dce
#: instead of being folded into large constants; and again after folding, where new
#: constants (x * 1 with a folded 1) give it more to do.
#: share_scans needs cse's merged operands, and leaves the loops it replaced to dce.
DEFAULT_PIPELINE: tuple[Pass, ...] = (
    simplify,
    dce,
    fold_constants,
    simplify,
    cse,
    share_scans,
    dce,
)
#: Lowering for execution, applied by the executor after the pipeline: fused nodes are
#: for running, while the optimized graph stays per-primitive for inlining (control
#: flow), differentiation and export. Hoisting scans' invariants comes first, so the
#: nodes it moves out of loops are fused with their neighbours outside. Scheduling comes
#: last: it orders the nodes that will actually run (collectives' starts early, waits late).
#: Carried sums of per-step products leave loops after hoisting (which may expose them);
#: then a stack those sums transpose back is read where it already exists, and a loop's
#: per-step results and operands that nothing reads any more are dropped; and a
#: scanned sequence's bias is added in the loop (its gate loop reads each row anyway).
#: Products added back as patches (a convolution's input gradient) become one node, and
#: so do products of patches (a convolution's forward pass) where the backend runs them
#: natively.
#: A ReLU's mask times what max pooling scattered back becomes one node too, and so
#: does a product with its bias and ReLU, and a product times a ReLU's mask; sibling
#: products of one operand with their biases become one product.
#: Softmaxes over the last axis become one node before elementwise fusion, which would
#: otherwise take their subtract and exp (and the bias add before them) into its loops;
#: so do softmax gradients (their multiplies and subtract) and layer norms' statistics
#: and input gradients. Attention's products with the softmax between them (and their
#: gradients) then become one node each. A sum of negated values is then the negated
#: sum (one pass fewer).
#: Concatenations of fused loops' results are then written by those loops, and column
#: splits read in place by the loops that consume the parts (an elementwise op before
#: such a split is first moved past it, so that it joins them).
LOWERING: tuple[Pass, ...] = (
    hoist_invariants,
    sum_products_after_scans,
    read_transposed_stacks,
    drop_unused_scan_operands,
    add_biases_in_scans,
    fold_products_into_patches,
    fold_patches_into_products,
    mask_window_scatters,
    fold_bias_relu_into_products,
    fold_relu_masks_into_products,
    merge_sibling_products,
    fuse_softmax_rows,
    fuse_softmax_gradients,
    fuse_attention,
    fuse_layer_norm_gradients,
    fuse_layer_norm_statistics,
    sum_before_negating,
    split_before_elementwise,
    fuse,
    write_concatenations_in_loops,
    read_splits_in_loops,
    schedule_collectives,
)


def optimize(graph: Graph, backend: Backend, passes: Sequence[Pass] = DEFAULT_PIPELINE) -> Graph:
    """Run ``passes`` for ``backend`` in order, verifying the graph after each."""
    verify(graph)
    for optimization in passes:
        graph = optimization(graph, backend)
        verify(graph, after=optimization.__name__)
    return graph


__all__ = [
    "DEFAULT_PIPELINE",
    "LOWERING",
    "add_biases_in_scans",
    "cse",
    "dce",
    "drop_unused_scan_operands",
    "fold_bias_relu_into_products",
    "fold_constants",
    "fold_patches_into_products",
    "fold_products_into_patches",
    "fold_relu_masks_into_products",
    "fuse",
    "fuse_attention",
    "fuse_layer_norm_gradients",
    "fuse_layer_norm_statistics",
    "fuse_softmax_gradients",
    "fuse_softmax_rows",
    "hoist_invariants",
    "mask_window_scatters",
    "merge_sibling_products",
    "optimize",
    "read_splits_in_loops",
    "read_transposed_stacks",
    "schedule_collectives",
    "share_scans",
    "simplify",
    "split_before_elementwise",
    "sum_before_negating",
    "sum_products_after_scans",
    "verify",
    "write_concatenations_in_loops",
]
