"""A character-level transformer on Shakespeare: nanoGPT's `shakespeare_char` baseline (Karpathy
2022; 6 layers, 6 heads, width 384, context 256, batch 64, dropout 0.2, AdamW with lr 1e-3 and
a cosine schedule, beta2 = 0.99, gradient clipping at 1), with RoPE and RMSNorm
(`genjax.nn.transformer`). Evaluation reports validation nats and bits per character.

The data is `text:shakespeare`: a folder with train.txt and val.txt (any UTF-8 text works),
looked up in the working directory, then under data.data_dir:

    genjax train --config shakespeare_char --workdir runs/shakespeare_char \\
        --config.data.data_dir=DIR_HOLDING_shakespeare      # or --config.data.source=text:PATH
    genjax eval --workdir runs/shakespeare_char --metrics nll --num 200
    genjax sample --workdir runs/shakespeare_char --num 4 --out samples.txt \\
        --option prompt=ROMEO: --option top_k=20

Variants: `cpu` (nanoGPT's CPU settings: 4 layers, 4 heads, width 128, context 64, batch 12,
no dropout, 2000 steps), `runlocal` (10 tiny steps).
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="text:shakespeare", seq_len=256, batch_size=64, split="train", eval_split="val")
    c.objective.update(name="autoregressive", num_layers=6, num_heads=6, dim=384, mlp_ratio=4,
                       dropout=0.2)
    c.optim.update(name="adamw", lr=1e-3, b2=0.99, weight_decay=0.1, schedule="cosine", warmup_steps=100,
                   clip_norm=1.0)
    c.train.update(steps=5000, log_every=50, sample_every=1000, eval_every=500, checkpoint_every=1000,
                   ema_decays=())
    c.eval.update(metrics=("nll",), num=200, use_ema=False)
    c.sample.update(num=4, batch_size=16, use_ema=False)
    return variants(c, arg, cpu=cpu, runlocal=runlocal)


def cpu(c):
    """nanoGPT's shakespeare_char settings for a CPU: 4 x 128, context 64, batch 12."""
    c.data.update(seq_len=64, batch_size=12)
    c.objective.update(num_layers=4, num_heads=4, dim=128, dropout=0.0)
    c.optim.warmup_steps = 0
    c.train.update(steps=2000, eval_every=250, sample_every=1000)


def runlocal(c):
    """10 steps of a 2-layer, width-32 model on windows of 32 characters, evaluated on 8 windows."""
    short_run(c)
    c.data.seq_len = 32
    c.objective.update(num_layers=2, num_heads=2, dim=32)
    c.optim.warmup_steps = 0
    c.train.eval_every = 10
    c.eval.num = 8
