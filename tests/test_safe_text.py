"""Remote text shown to the operator: every character that could drive a terminal escaped,
everything else (newlines and tabs when kept) exactly as sent."""

from __future__ import annotations

import random

from wizard.safe_text import safe_text


def slow(text: str, keep_newlines: bool = True) -> str:
    """Character by character, the definition."""
    out = []
    for char in text:
        if char == "\t" or (char == "\n" and keep_newlines) or char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def test_plain_text_comes_back_as_it_is():
    text = "key: value\n\tindented ü ✓ — fine\n"
    assert safe_text(text) is text
    assert safe_text("a\nb", keep_newlines=False) == "a\\x0ab"


def test_control_and_invisible_characters_are_escaped():
    assert safe_text("ok\x1b[2Jgone\u202eevil\r\n") == "ok\\x1b[2Jgone\\u202eevil\\x0d\n"


def test_any_text_is_escaped_as_the_definition_says():
    rng = random.Random(11)
    alphabet = "ab \n\t\r\x00\x1b\x7f\x85\u200b\u202e\u2028é✓"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        for keep in (True, False):
            assert safe_text(text, keep) == slow(text, keep)
