"""An exercise left as its placeholder gets "fill it in", not a wrong-answer verdict."""
from peft_lab.notebook import check_function


def test_check_function_asks_to_fill_in_a_placeholder_body(capsys):
    def houlsby_params(d, m, n_layers):
        return ...

    assert not check_function(houlsby_params, lambda d, m, n: 2 * n * (2 * d * m + d + m), [(8, 2, 1)])
    out = capsys.readouterr().out
    assert "houlsby_params" in out and "`...`" in out and "✗" not in out
