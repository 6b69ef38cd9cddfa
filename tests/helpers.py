"""Helpers shared by the method tests: tiny synthetic problems and fit's order of hook calls."""
import torch
import torch.nn.functional as F


def counting_ids(vocab_size: int = 50, n: int = 16, length: int = 12, seed: int = 0) -> torch.Tensor:
    """Sequences that count up by one (mod the vocabulary): the next token follows from the last."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, vocab_size - 5, (n, 1), generator=g)
    return (start + torch.arange(length)) % (vocab_size - 5) + 5  # ids in [5, vocab_size)


def lm_loss(model, ids: torch.Tensor) -> torch.Tensor:
    logits = model(ids[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def train(model, steps: int = 20, lr: float = 1e-2, hooks=(), optimizer=None, loss_fn=None) -> list[float]:
    """A few optimizer steps, calling hooks exactly where ``pl.fit`` does; returns every step's loss.
    ``loss_fn(model)`` defaults to next-token loss on counting sequences."""
    if loss_fn is None:
        ids = counting_ids(model.config.vocab_size)
        loss_fn = lambda m: lm_loss(m, ids)  # noqa: E731
    opt = (optimizer(model, lr) if optimizer is not None
           else torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr))
    for h in hooks:
        h.on_train_begin(model, steps)
    model.train()
    losses = []
    for step in range(steps):
        loss = loss_fn(model)
        total = loss
        for h in hooks:
            extra = h.extra_loss(model, step)
            if extra is not None:
                total = total + extra
        opt.zero_grad()
        total.backward()
        for h in hooks:
            h.after_backward(model, step)
        opt.step()
        for h in hooks:
            h.after_step(model, step)
        losses.append(loss.item())
    for h in hooks:
        h.on_train_end(model)
    model.eval()
    return losses


def randomize_(params, std: float = 0.1, seed: int = 1) -> None:
    """Give trainable tensors non-trivial values (B = 0 at init would make many checks vacuous)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn(p.shape, generator=g) * std)


def train_to_say_7(model, steps=20, lr=3e-2):
    """A tiny synthetic LM task (always predict character 7); returns the losses."""
    ids = torch.randint(5, 50, (8, 12), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(ids).flatten(0, 1), torch.full((ids.numel(),), 7))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


def shown_png(output) -> bytes:
    """The PNG an ``ipywidgets.Output`` shows (an explorer's ``.plot``): exactly one figure."""
    outputs = output.outputs
    assert len(outputs) == 1, "the explorer shows exactly one figure"
    return outputs[0]["data"]["image/png"]


def check_slider_moves_only_the_mark(box, control: str, start, moved, moved_text: str) -> None:
    """An explorer drawn at ``start``: moving ``control`` to ``moved`` redraws the figure and shows
    ``moved_text`` (an exact count); moving it back draws the very same figure -- only the mark on
    the measured sweep moved."""
    at_start = shown_png(box.plot)
    box.controls[control].value = moved
    assert shown_png(box.plot) != at_start
    assert moved_text in box.html.value
    box.controls[control].value = start
    assert shown_png(box.plot) == at_start


# ----------------------------------------------------------------------------- language checks (figures and widgets)

def cjk_characters(text: str) -> list[str]:
    """The Chinese characters and full-width punctuation in ``text`` (what English mode must not show)."""
    return [ch for ch in text if "\u2e80" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" or "\u3000" <= ch <= "\u303f"]


def untranslated(text: str) -> bool:
    """In Chinese mode: ``text`` is a language-table key or an English entry shown as it is where
    the table holds a different Chinese text (e.g. a method label "full" or "Full fine-tuning"
    instead of 全参数微调)."""
    from peft_lab.i18n import TEXT
    text = text.strip()
    return any(text in (key, entry["en"]) and text != entry["zh"] for key, entry in TEXT.items())
