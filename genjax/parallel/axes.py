"""Logical axis names. Models name their parameters' axes with these, and constrain activations
at block boundaries with them (`genjax.parallel.sharding.constrain`); `config.sharding.rules`
maps each name to mesh axes (`data`, `fsdp`, `tensor`) or to None (replicated).

Tensor parallelism is Megatron's (Shoeybi et al. 2019, sec. 3): a block's first layer shards its
output features (`mlp`, `heads`, `conv_out`: column-parallel), its last one its input features
(row-parallel), so the block's inner activations are split over `tensor` and the block costs one
all-reduce. `embed` and `conv_in` name the features at block boundaries (the residual stream).
"""

BATCH = "batch"  # examples in a batch
EMBED = "embed"  # model width (d_model, hidden channels of MLPs)
MLP = "mlp"  # feed-forward hidden width
HEADS = "heads"  # attention heads
KV = "kv"  # per-head feature size
VOCAB = "vocab"  # token vocabulary / class embeddings
CONV_IN = "conv_in"  # channels at a conv block's boundary (a kernel's input, a row-parallel one's output)
CONV_OUT = "conv_out"  # channels inside a conv block (a kernel's output, a row-parallel one's input)
NORM = "norm"  # scale/bias vectors of normalisation layers
LAYERS = "layers"  # the stacked layers of a scanned block (genjax.nn.remat.scan_layers)

ALL = (BATCH, EMBED, MLP, HEADS, KV, VOCAB, CONV_IN, CONV_OUT, NORM, LAYERS)

# Mesh axes, in mesh order.
MESH_AXES = ("data", "fsdp", "tensor")
# The batch is split over these mesh axes.
BATCH_AXES = ("data", "fsdp")
