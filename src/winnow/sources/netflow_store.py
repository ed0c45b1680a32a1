"""NetFlow v9 / IPFIX templates kept across files, ingests and collector runs.

Exporters send a template once every N packets (or minutes) and the data that uses it in between,
so the data in one rotated capture often needs a template that arrived in an earlier one. A
:class:`TemplateStore` holds the templates by (exporter address, version, source id / observation
domain, template id), in order of arrival: a later template with the same key replaces the earlier
one, an IPFIX withdrawal removes it. Values that options records give a (exporter, version,
domain) -- its system start time and sampling interval -- are kept with them, as data decoded with
a template needs them too. It is plain data with a JSON form (:meth:`TemplateStore.dumps`,
:meth:`TemplateStore.loads`); the ingest layer and the collector keep it in the lake (a source never
writes files). A template is stored as its field specifiers and recompiled when loaded.
"""

from __future__ import annotations

import json

from winnow.sources.netflow_template import Template

#: version of the JSON form
FORMAT = 1
#: the lake's state file (``<lake>/_state/<name>``) the ingest layer and the collector keep it in
STATE_NAME = "netflow_templates.json"

Key = tuple[str, int, int, int]  # (exporter, netflow version, domain, template id)
Domain = tuple[str, int, int]  # (exporter, netflow version, domain)
#: the options values kept per domain
OPTION_VALUES = ("sys_init_ms", "sampling")


class TemplateStore:
    """Templates by (exporter, version, domain, template id), oldest arrival first.

    ``templates`` is the live dict a :class:`~winnow.sources.netflow_decode.NetflowDecoder` reads;
    :meth:`put` and :meth:`remove` change it and remember which keys changed since :meth:`saved`.
    """

    def __init__(self) -> None:
        self.templates: dict[Key, Template] = {}
        #: options values by domain (``sys_init_ms``, ``sampling``)
        self.options: dict[Domain, dict[str, int]] = {}
        self.changed: set = set()  # template keys and ("options", domain) keys changed since saved
        #: why the stored form could not be read (then the store starts empty), else None
        self.problem: str | None = None

    def __len__(self) -> int:
        return len(self.templates)

    def put(self, key: Key, template: Template) -> None:
        """Install a template: it becomes the newest arrival, replacing one with the same key."""
        self.templates.pop(key, None)
        self.templates[key] = template
        self.changed.add(key)

    def remove(self, key: Key) -> None:
        """Withdraw a template (nothing when it is not there)."""
        if self.templates.pop(key, None) is not None:
            self.changed.add(key)

    def set_option(self, domain: Domain, name: str, value: int) -> None:
        """Keep an options value (``sys_init_ms`` or ``sampling``) of a domain."""
        values = self.options.setdefault(domain, {})
        if values.get(name) != value:
            values[name] = value
            self.changed.add(("options", domain))

    def snapshot(self) -> tuple:
        """The current state, to :meth:`restore` when what was fed since must not count."""
        return dict(self.templates), {k: dict(v) for k, v in self.options.items()}, set(self.changed)

    def restore(self, state: tuple) -> None:
        """Go back to a :meth:`snapshot`."""
        self.templates.clear()
        self.templates.update(state[0])
        self.options.clear()
        self.options.update(state[1])
        self.changed = set(state[2])

    def merged_onto(self, text: str | None) -> TemplateStore:
        """This store's changes applied over a stored form (what another writer saved meanwhile).

        Keys this store did not change keep the stored template; the result becomes this store's
        state too, so templates another writer stored are used from now on.
        """
        base = TemplateStore.from_state(text)
        for key in [k for k in self.templates if k in self.changed]:  # in order of arrival
            base.put(key, self.templates[key])
        for key in self.changed:
            if key[0] == "options":
                base.options.setdefault(key[1], {}).update(self.options.get(key[1], {}))
            elif key not in self.templates:
                base.remove(key)
        self.templates.clear()
        self.templates.update(base.templates)
        self.options.clear()
        self.options.update(base.options)
        return self

    def saved(self) -> None:
        """Forget the changes: the stored form now holds them."""
        self.changed.clear()

    def dumps(self) -> str:
        """The JSON form: every template with its key and field specifiers, oldest arrival first."""
        return json.dumps({"format": FORMAT, "templates": [
            {"exporter": exporter, "version": version, "domain": domain, "template": tid,
             "scope": t.scope_count, "fields": [list(spec) for spec in t.specs]}
            for (exporter, version, domain, tid), t in self.templates.items()
        ], "options": [
            {"exporter": exporter, "version": version, "domain": domain, **values}
            for (exporter, version, domain), values in self.options.items()
        ]}, separators=(",", ":"))

    @classmethod
    def from_state(cls, text: str | None) -> TemplateStore:
        """The store of a published state file's text (None: no file yet, an empty store)."""
        return cls.loads(text) if text else cls()

    @classmethod
    def loads(cls, text: str) -> TemplateStore:
        """Read the JSON form; an unreadable one gives an empty store whose ``problem`` says why."""
        store = cls()
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            for item in data["templates"]:
                key = (str(item["exporter"]), int(item["version"]), int(item["domain"]), int(item["template"]))
                specs = [(int(e), int(n), int(p)) for e, n, p in item["fields"]]
                store.templates[key] = Template.compile(key[3], specs, int(item["scope"]))
            for item in data.get("options", []):
                domain = (str(item["exporter"]), int(item["version"]), int(item["domain"]))
                store.options[domain] = {name: int(item[name]) for name in OPTION_VALUES if name in item}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            store.templates.clear()
            store.options.clear()
            store.problem = f"{type(exc).__name__}: {exc}"
        return store
