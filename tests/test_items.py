import pytest

from edgejudge.errors import InputError
from edgejudge.items import make_item, parse_scale


def test_pairwise_item_and_task_inference():
    item = make_item({"prompt": "p", "response_a": "a", "response_b": "", "id": 7})
    assert item.task == "pairwise" and item.response_b == "" and item.id == 7
    swapped = item.swapped()
    assert (swapped.response_a, swapped.response_b) == ("", "a")


def test_pointwise_gets_the_default_scale():
    assert make_item({"prompt": "p", "response": "r"}).scale == (1, 5)
    assert make_item({"prompt": "p", "response": "r", "scale": "0-10"}).scale == (0, 10)
    assert make_item({"prompt": "p", "response": "r", "scale": [2, 4]}).scale == (2, 4)


@pytest.mark.parametrize(
    "record, code",
    [
        ({"task": "pairwise", "prompt": "p", "response_a": "a"}, "missing_field"),
        ({"task": "telepathy", "prompt": "p"}, "unknown_task"),
        ({"prompt": "p"}, "missing_field"),
        ({"prompt": 3, "response": "r"}, "bad_type"),
        ({"prompt": "p", "response": ["r"]}, "bad_type"),
        ({"prompt": "   ", "response": "r"}, "bad_value"),
        ({"prompt": "p\x00", "response": "r"}, "bad_value"),
        ({"prompt": "p", "response": "r", "scale": "5-1"}, "bad_scale"),
        ({"prompt": "p", "response": "r", "scale": "1-100"}, "bad_scale"),
        ({"prompt": "p", "response": "r", "scale": "big"}, "bad_scale"),
        ({"prompt": "p", "response": "r", "id": [1]}, "bad_type"),
        (["not", "an", "object"], "bad_type"),
    ],
)
def test_invalid_items_have_codes(record, code):
    with pytest.raises(InputError) as info:
        make_item(record)
    assert info.value.code == code


def test_parse_scale_forms():
    assert parse_scale("1-5") == (1, 5)
    assert parse_scale(" 1 : 7 ") == (1, 7)
    with pytest.raises(InputError):
        parse_scale([1, True])
