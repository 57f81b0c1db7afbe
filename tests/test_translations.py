"""The gettext catalogs against the code: every message id the code uses exists, non-empty, in
every language; no catalog id is unused; placeholders agree between languages.

The ids the code uses are found by reading the code with ``ast``, not by running it: each
call that turns an id into a sentence (``texts("...")``, ``turn.say("...")``,
``turn.button("...")``, ``Texts(...)("...")``, ``texts.template("...")``) is followed back to
the literals it can receive: through conditional expressions, local assignments, parameters
(to the calls of that function in the same module), tuples returned by a function, what a
called function returns, dicts such as ``PROMPTS`` and ``flows.labels``, and the ``reason``
of a ``Refusal``. An id built at
run time (an f-string) or an argument the scan cannot follow fails the test, so a new kind of
indirection is either taught to the scan here or written as a literal.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from flows import labels
from flows.domain import (
    AccountStatus,
    Ineligibility,
    Language,
    OutboxStatus,
    PasswordPolicyName,
    Role,
)
from flows.outbox_view import GIVEN_UP
from flows.texts import DOMAIN, LOCALES, Catalog, Texts, catalog_path, shipped_catalog

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "flows", "handlers", "storage")

SINKS = frozenset({"texts", "say", "button", "template"})
"""Names of the calls whose first argument is a message id (``turn.say``, ``texts.template``,
and any ``texts`` or ``*_texts`` that is a ``Texts``)."""

CARRIERS = {
    "reason": ("Refusal", 0),
    "text": ("Refusal", 0),
    "menu": ("Command", 3),
    "help": ("Command", 4),
    "message_id": ("InvitationRefused", 0),
    "unusable": ("TokenGuard", 2),
}
"""An attribute that holds a message id, and the class whose argument (at that position, or
given by the attribute's name) sets it."""

ENUM_CARRIERS = {"heading": "Audience"}
"""An attribute of an Enum whose members are tuples with a message id first."""

UNUSED = frozenset[str]()
"""Catalog ids that no code uses, on purpose (none today)."""


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


class Unresolved(Exception):
    """An argument in a message id's place that the scan cannot follow to literals."""


@dataclass
class Module:
    path: Path
    tree: ast.Module
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"

    def function_of(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
        return None

    def functions(self, name: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        return [
            node
            for node in ast.walk(self.tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        ]

    def top_level(self, name: str) -> ast.expr | None:
        for statement in self.tree.body:
            if isinstance(statement, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == name for target in statement.targets
            ):
                return statement.value
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and statement.target.id == name
            ):
                return statement.value
        return None


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


class Scan:
    """The message ids the code passes to the catalog, and where."""

    def __init__(self, modules: list[Module]) -> None:
        self.modules = modules
        self.by_name = {m.path.relative_to(ROOT).with_suffix("").as_posix(): m for m in modules}
        self.defined = {
            node.name
            for m in modules
            for node in ast.walk(m.tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.ids: dict[str, list[str]] = {}
        self.problems: list[str] = []

    @classmethod
    def of_code(cls) -> Scan:
        paths = sorted(
            path
            for package in PACKAGES
            for path in (ROOT / package).rglob("*.py")
            if "migrations" not in path.parts
        )
        return cls([Module(path, ast.parse(path.read_text(), str(path))) for path in paths])

    def run(self) -> Scan:
        for module in self.modules:
            for call in ast.walk(module.tree):
                if isinstance(call, ast.Call) and call.args and self._is_sink(call, module):
                    self._record(module, call.args[0], call)
        return self

    def _is_sink(self, call: ast.Call, module: Module) -> bool:
        func = call.func
        if isinstance(func, ast.Call) and _called_name(func.func) == "Texts":
            return True  # Texts(language)("key")
        name = _called_name(func)
        if name is None or not (name in SINKS or name.endswith("_texts")):
            return False
        if name.endswith("_texts") and name in self.defined:
            return False  # a function that returns a Texts, such as release._requester_texts
        function = module.function_of(call)
        # The sinks themselves (Turn.say passes its ``key`` on to Turn.texts).
        return function is None or function.name not in {"say", "button", "__call__", "template"}

    def _record(self, module: Module, expr: ast.expr, call: ast.Call) -> None:
        try:
            found = self.resolve(module, expr, depth=0)
        except Unresolved as exc:
            self.problems.append(f"{module.where(call)}: {exc}")
            return
        for message_id in found:
            self.ids.setdefault(message_id, []).append(module.where(call))

    def resolve(self, module: Module, expr: ast.expr, depth: int) -> set[str]:
        """Every literal ``expr`` can be, followed through the indirections listed above."""
        if depth > 8:
            raise Unresolved(f"too many steps to follow {ast.unparse(expr)}")
        step = depth + 1
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        if isinstance(expr, ast.IfExp):
            return self.resolve(module, expr.body, step) | self.resolve(module, expr.orelse, step)
        if isinstance(expr, ast.JoinedStr | ast.BinOp):
            raise Unresolved(f"message id built at run time: {ast.unparse(expr)}")
        if isinstance(expr, ast.Subscript):
            return self._values_of(module, expr.value, step)
        if isinstance(expr, ast.Attribute) and expr.attr in CARRIERS:
            class_name, position = CARRIERS[expr.attr]
            return self._carried(class_name, step, position, expr.attr)
        if isinstance(expr, ast.Attribute) and expr.attr in ENUM_CARRIERS:
            return self._enum_firsts(ENUM_CARRIERS[expr.attr], step)
        if isinstance(expr, ast.Name):
            return self._name(module, expr, step)
        if isinstance(expr, ast.Call) and (name := _called_name(expr.func)) is not None:
            return self._returned(name, step)
        raise Unresolved(f"cannot follow {ast.unparse(expr)}")

    def _returned(self, function_name: str, step: int) -> set[str]:
        """Everything a function of that name (in any module) returns, such as
        ``open_how(links)``, which picks one of two ids."""
        found: set[str] = set()
        for module in self.modules:
            for function in module.functions(function_name):
                for node in ast.walk(function):
                    if isinstance(node, ast.Return) and node.value is not None:
                        found |= self.resolve(module, node.value, step)
        if not found:
            raise Unresolved(f"cannot follow {function_name}(...)")
        return found

    def _values_of(self, module: Module, container: ast.expr, step: int) -> set[str]:
        """The values of a dict, or the items of a tuple, named at module level."""
        found = self._definition(module, container)
        if isinstance(found, ast.Dict):
            return set().union(*(self.resolve(module, v, step) for v in found.values))
        if isinstance(found, ast.Tuple | ast.List | ast.Set):
            return set().union(*(self.resolve(module, v, step) for v in found.elts))
        raise Unresolved(f"cannot follow {ast.unparse(container)}")

    def _enum_firsts(self, class_name: str, step: int) -> set[str]:
        """The first item of each member (``NAME = ("message_id", ...)``) of an Enum."""
        found: set[str] = set()
        for module in self.modules:
            for node in ast.walk(module.tree):
                if not (isinstance(node, ast.ClassDef) and node.name == class_name):
                    continue
                for statement in node.body:
                    if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Tuple):
                        found |= self.resolve(module, statement.value.elts[0], step)
        if not found:
            raise Unresolved(f"no members of {class_name} to take a message id from")
        return found

    def _definition(self, module: Module, expr: ast.expr) -> ast.expr | None:
        if isinstance(expr, ast.Name):
            return module.top_level(expr.id)
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            other = self.by_name.get(f"flows/{expr.value.id}")  # labels.ROLE
            return other.top_level(expr.attr) if other else None
        return None

    def _carried(
        self, class_name: str, step: int, position: int = 0, keyword: str | None = None
    ) -> set[str]:
        """Every argument at ``position`` (or named ``keyword``) given to ``class_name(...)``
        anywhere in the code; None passed there is no message id."""
        found: set[str] = set()
        for module in self.modules:
            for call in ast.walk(module.tree):
                if not (isinstance(call, ast.Call) and _called_name(call.func) == class_name):
                    continue
                passed = [k.value for k in call.keywords if keyword and k.arg == keyword]
                if position < len(call.args):
                    passed.append(call.args[position])
                for value in passed:
                    if not (isinstance(value, ast.Constant) and value.value is None):
                        found |= self.resolve(module, value, step)
        if not found:
            raise Unresolved(f"no {class_name}(...) to take a message id from")
        return found

    def _name(self, module: Module, name: ast.Name, step: int) -> set[str]:
        function = module.function_of(name)
        if function is None:
            value = module.top_level(name.id)
            if value is None:
                raise Unresolved(f"cannot follow {name.id}")
            return self.resolve(module, value, step)
        found: set[str] = set()
        assigned = False
        for value, index in _assignments(function, name.id):
            assigned = True
            if index is None:
                found |= self.resolve(module, value, step)
            else:
                found |= self._element(module, function, value, index, step)
        parameter = _parameter_index(function, name.id)
        if parameter is not None:
            found |= self._arguments(module, function, parameter, name.id, step)
        elif not assigned:
            raise Unresolved(f"cannot follow {name.id}")
        return found

    def _element(
        self,
        module: Module,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        value: ast.expr,
        index: int,
        step: int,
    ) -> set[str]:
        """Element ``index`` of what ``value`` (a call of a function here, or a local name
        given one) returns."""
        if isinstance(value, ast.Name):
            found = set[str]().union(
                *(
                    self._element(module, function, assigned, index, step + 1)
                    for assigned, unpacked in _assignments(function, value.id)
                    if unpacked is None
                )
            )
            if not found:
                raise Unresolved(f"cannot unpack {value.id}")
            return found
        if isinstance(value, ast.Await):
            value = value.value
        if not isinstance(value, ast.Call) or (name := _called_name(value.func)) is None:
            raise Unresolved(f"cannot unpack {ast.unparse(value)}")
        found: set[str] = set()
        for called in module.functions(name):
            for node in ast.walk(called):
                if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
                    found |= self.resolve(module, node.value.elts[index], step)
        if not found:
            raise Unresolved(f"cannot unpack {ast.unparse(value)}")
        return found

    def _arguments(
        self,
        module: Module,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        index: int,
        keyword: str,
        step: int,
    ) -> set[str]:
        """What the calls of ``function`` in its own module pass for one parameter."""
        is_method = bool(function.args.args) and function.args.args[0].arg in {"self", "cls"}
        found: set[str] = set()
        calls = 0
        for call in ast.walk(module.tree):
            if not isinstance(call, ast.Call) or _called_name(call.func) != function.name:
                continue
            calls += 1
            position = index - 1 if is_method and isinstance(call.func, ast.Attribute) else index
            passed = [k.value for k in call.keywords if k.arg == keyword]
            if position < len(call.args):
                passed.append(call.args[position])
            for expr in passed:
                found |= self.resolve(module, expr, step)
        if not calls:
            raise Unresolved(f"no call of {function.name} passes {keyword}")
        return found


def _assignments(
    function: ast.FunctionDef | ast.AsyncFunctionDef, name: str
) -> Iterator[tuple[ast.expr, int | None]]:
    """``(value, None)`` for ``name = value``; ``(value, i)`` for ``a, name = value``."""
    for node in ast.walk(function):
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if value is None:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id == name:
                yield value, None
            elif isinstance(target, ast.Tuple):
                for i, element in enumerate(target.elts):
                    if isinstance(element, ast.Name) and element.id == name:
                        yield value, i


def _parameter_index(function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> int | None:
    names = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    if name in names:
        return names.index(name)
    if name in {a.arg for a in function.args.kwonlyargs}:
        return 10_000  # keyword only: only a keyword argument can pass it
    return None


@pytest.fixture(scope="module")
def scan() -> Scan:
    return Scan.of_code().run()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return shipped_catalog()


def test_the_scan_follows_every_message_id_argument(scan: Scan) -> None:
    assert scan.problems == []
    assert len(scan.ids) > 150  # the scan sees the code at all


@pytest.mark.parametrize("language", list(Language))
def test_every_message_id_the_code_uses_is_translated(
    scan: Scan, catalog: Catalog, language: Language
) -> None:
    missing = {
        message_id: places
        for message_id, places in sorted(scan.ids.items())
        if not catalog.messages[language].get(message_id, "").strip()
    }
    assert missing == {}


def test_no_catalog_id_is_unused(scan: Scan, catalog: Catalog) -> None:
    unused = set(catalog.messages[Language.EN]) - set(scan.ids) - UNUSED
    assert sorted(unused) == []


def test_every_language_has_the_same_ids(catalog: Catalog) -> None:
    english = set(catalog.messages[Language.EN])
    for language in Language:
        assert set(catalog.messages[language]) == english, language


def test_placeholders_agree_between_languages(catalog: Catalog) -> None:
    english = catalog.messages[Language.EN]
    differ = {
        message_id: {
            language.value: sorted(_placeholders(catalog.messages[language][message_id]))
            for language in Language
        }
        for message_id, text in english.items()
        if any(
            _placeholders(catalog.messages[language][message_id]) != _placeholders(text)
            for language in Language
        )
    }
    assert differ == {}


@pytest.mark.parametrize("language", list(Language))
def test_every_message_formats_with_its_placeholders(catalog: Catalog, language: Language) -> None:
    texts = Texts(language, catalog)
    for message_id, text in catalog.messages[language].items():
        values = {name: f"<{name}>" for name in _placeholders(text)}
        formatted = texts(message_id, **values)
        assert all(value in formatted for value in values.values()), message_id
        assert "{" not in formatted.replace("{{", ""), message_id


@pytest.mark.parametrize(
    "path",
    [LOCALES / f"{DOMAIN}.pot", *(catalog_path(language) for language in Language)],
    ids=lambda path: str(path.relative_to(LOCALES)),
)
def test_the_catalogs_parse_cleanly(path: Path) -> None:
    """Babel reads each file without an error; no entry is fuzzy or obsolete (both would be
    dropped at run time), and each entry carries the English as the translator's comment."""
    with path.open("rb") as file:
        parsed = read_po(file, domain=DOMAIN, abort_invalid=True)
    entries = [message for message in parsed if message.id]
    assert entries
    assert [m.id for m in entries if m.fuzzy] == []
    assert list(parsed.obsolete) == []
    english = shipped_catalog().messages[Language.EN]
    assert {m.id for m in entries} == set(english)
    assert [m.id for m in entries if not m.auto_comments] == []
    assert [
        m.id
        for m in entries
        if _placeholders(english[str(m.id)]) != _placeholders(" ".join(m.auto_comments))
    ] == []


def test_an_unknown_message_id_is_an_error(catalog: Catalog) -> None:
    with pytest.raises(KeyError):
        Texts(Language.NL, catalog)("no_such_message")


def test_a_missing_translation_falls_back_to_english(catalog: Catalog) -> None:
    dutch = {k: v for k, v in catalog.messages[Language.NL].items() if k != "button_help"}
    partial = Catalog({**catalog.messages, Language.NL: dutch})
    assert Texts(Language.NL, partial)("button_help") == Texts(Language.EN)("button_help")


def test_the_scan_finds_ids_behind_variables_and_refuses_built_ones() -> None:
    """The scan's own rules, on a small module: literals reached through an assignment, a
    parameter, a returned tuple, a module dict and a Refusal; an f-string is refused."""
    source = """
PROMPTS = {1: "prompt_a", 2: "prompt_b"}

def why():
    return "why_a", {}

def helper(turn, key):
    turn.say(key)

def step(turn, role, parsed):
    usage = "usage_a" if role else "usage_b"
    turn.say(usage)
    turn.say(PROMPTS[role])
    helper(turn, "via_parameter")
    key, values = why()
    turn.say(key, **values)
    refusal = why()
    other, _ = refusal
    turn.say(other)
    turn.say(parsed.reason)
    texts = turn.texts
    texts(f"built_{role}")

def parse():
    return Refusal("refusal_a")
"""
    path = ROOT / "flows" / "example.py"
    scan = Scan([Module(path, ast.parse(source))]).run()
    assert set(scan.ids) == {
        "prompt_a",
        "prompt_b",
        "why_a",
        "via_parameter",
        "usage_a",
        "usage_b",
        "refusal_a",
    }
    assert scan.problems == ["flows/example.py:22: message id built at run time: f'built_{role}'"]


LABELS: dict[str, tuple[dict[Enum, str], set[Enum]]] = {
    "ROLE": (dict(labels.ROLE), set(Role)),
    "ACCOUNT_STATUS": (dict(labels.ACCOUNT_STATUS), set(AccountStatus)),
    "INELIGIBILITY": (dict(labels.INELIGIBILITY), set(Ineligibility)),
    "PASSWORD_RULES": (dict(labels.PASSWORD_RULES), set(PasswordPolicyName)),
    "GIVEN_UP_STATE": (dict(labels.GIVEN_UP_STATE), set(GIVEN_UP)),
}


@pytest.mark.parametrize("name", sorted(LABELS))
def test_every_enum_member_shown_to_people_has_a_message(name: str, catalog: Catalog) -> None:
    mapping, members = LABELS[name]
    assert set(mapping) == members
    assert all(catalog.messages[Language.EN].get(message_id) for message_id in mapping.values())
    assert set(labels.GIVEN_UP_STATE) <= set(OutboxStatus)
