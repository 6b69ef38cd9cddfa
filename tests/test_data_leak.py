"""No held-out text is a near-copy of a training or pretraining text (issue 15): the normaliser,
the fast detector on cases whose answer is known, and the property on the real corpora checked by
a plain, independent method (one joined string and ``in``), with the training splits unchanged."""
import pytest

from peft_lab import data, hub

K = data.CONTAINMENT_MIN_CHARS
HELD_OUT = ("validation", "test")


def test_normalize_text_keeps_folded_letters_and_digits_only():
    assert data.normalize_text("好， 很 好！") == "好很好"
    assert data.normalize_text("ＡＢＣ１２３ ok.") == "ABC123ok"  # full-width folds as normalize_char does
    assert data.normalize_text("“……”—— \t\n") == ""
    assert data.normalize_text("１９９８年") == data.normalize_text("1998年")


def test_detector_on_constructed_cases():
    train = ["这本书写得非常好，值得一读，推荐给大家。", "好", "房间干净 服务周到 下次还来"]
    held = [
        "这本书写得非常好值得一读",          # 0: a truncated copy (prefix of 12 letters) -> contained
        "房间干净，服务周到，下次还来！",     # 1: equal once spaces and punctuation are gone
        "总的说来：房间干净服务周到下次还来，就是贵",  # 2: contains a training text of 12 letters
        "好看",                            # 3: contains "好" (1 letter): too short to count
        "完全无关的一条评论内容在这里",       # 4: unrelated
        "值得一读",                        # 5: inside a training text but only 4 letters: not counted
        "好！",                            # 6: equal to the one-letter training text after normalising
    ]
    assert data.near_duplicates(held, train, min_chars=10) == {0, 1, 2, 6}
    # at a lower threshold the 4-letter phrase counts too; "好" still needs min_chars <= 1
    assert data.near_duplicates(held, train, min_chars=4) == {0, 1, 2, 5, 6}
    assert data.near_duplicates(held, train, min_chars=1) == {0, 1, 2, 3, 5, 6}
    assert data.near_duplicates([], train) == set() and data.near_duplicates(held, []) == set()


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_detector_rejects_a_bad_threshold(bad):
    with pytest.raises(ValueError, match="min_chars"):
        data.near_duplicates(["abc"], ["abc"], min_chars=bad)


def test_detector_rejects_one_string_for_a_list():
    with pytest.raises(TypeError, match="references="):
        data.near_duplicates(["这本书写得非常好"], "这本书写得非常好，值得一读")


def _held_out_texts(corpus: dict) -> list[str]:
    return [text for split in HELD_OUT for text, _ in corpus[split]]


def test_no_held_out_text_is_a_near_copy_of_a_training_or_pretraining_text():
    """Independent of the k-gram index: one joined string searched with ``in``, both directions."""
    corpora = (data.load_sentiment(), data.load_segmentation())
    references = {data.normalize_text(t) for corpus in corpora for t, _ in corpus["train"]}
    references |= {data.normalize_text(t) for t in data.pretraining_texts()}
    held = [data.normalize_text(t) for corpus in corpora for t in _held_out_texts(corpus)]
    assert not set(held) & references, "a held-out text equals a training text after normalisation"
    joined_references = "\n".join(references)  # "\n" never survives normalisation
    inside = [h for h in held if len(h) >= K and h in joined_references]
    assert not inside, f"held-out texts inside a training text: {inside[:3]}"
    joined_held = "\n".join(held)
    containing = [r for r in references if len(r) >= K and r in joined_held]
    assert not containing, f"training texts inside a held-out text: {containing[:3]}"


def test_every_removed_text_is_a_near_copy_and_the_filter_found_some():
    """The filter removes only true near-copies (checked directly), and the corpora hold some."""
    references = [data.normalize_text(t) for corpus in (data._sentiment_unfiltered(), data._segmentation_unfiltered())
                  for t, _ in corpus["train"]]
    joined, equal, long_refs = "\n".join(references), set(references), [r for r in references if len(r) >= K]
    removed = [data.normalize_text(t) for splits in data.held_out_leaks().values()
               for texts in splits.values() for t in texts]
    assert removed, "the corpora are known to hold truncated copies of training reviews"
    for h in removed:
        assert h in equal or (len(h) >= K and h in joined) or any(r in h for r in long_refs), h
    assert data.sentiment_stats()["near_duplicates_removed"] == sum(map(len, data.held_out_leaks()["sentiment"].values()))


@pytest.mark.parametrize("name", ["sentiment", "segmentation"])
def test_the_filter_only_removes_held_out_items_and_keeps_training_as_it_was(name):
    unfiltered = getattr(data, f"_{name}_unfiltered")()
    filtered = getattr(data, f"load_{name}")()
    assert filtered["train"] == list(unfiltered["train"]), "the training split must not change"
    leaks = data.held_out_leaks()[name]
    for split in HELD_OUT:
        assert filtered[split] == [x for x in unfiltered[split] if x[0] not in leaks[split]]
        assert len(filtered[split]) == len(unfiltered[split]) - len(leaks[split])


def test_pretraining_text_is_what_the_shipped_checkpoint_was_trained_on():
    """The card records the pretraining text's size and each stream's token count; the filter
    must leave them as they were, or the shipped weights would no longer match their data."""
    card = hub.read_card()["card"]
    texts = data.pretraining_texts()
    assert card["data"]["pretraining_texts"] == len(texts)
    assert card["data"]["pretraining_characters"] == sum(map(len, texts))
    reviews = {t for t, _ in data.load_sentiment()["train"]}
    tokens = {"reviews": sum(len(t) + 2 for t in texts if t in reviews),  # [BOS] text [EOS]
              "news": sum(len(t) + 2 for t in texts if t not in reviews)}
    assert card["data"]["tokens_per_stream"] == tokens


def test_the_card_says_which_split_informed_the_choice_between_checkpoints():
    choice = hub.read_card()["card"]["checkpoint_choice"]
    assert choice["split"] in data.SPLITS
    assert choice["hyperparameters_within_a_checkpoint"] in data.SPLITS
    assert choice["how"].strip()


def test_the_threshold_report_marks_the_threshold_the_splits_use(capsys):
    """`python -m peft_lab.experiments.leaks` prints, at CONTAINMENT_MIN_CHARS, exactly what the splits leave out."""
    from peft_lab.experiments import leaks
    leaks.report(thresholds=(K - 1, K))
    lines = capsys.readouterr().out.splitlines()
    [marked] = [line for line in lines if line.endswith("<- CONTAINMENT_MIN_CHARS")]
    removed = {name: {split: len(texts) for split, texts in splits.items()} for name, splits in data.held_out_leaks().items()}
    assert marked.startswith(f"min_chars={K:>2}: removed {removed} in ")
    assert len(lines) == 3 and lines[1].startswith(f"min_chars={K - 1:>2}: ")
