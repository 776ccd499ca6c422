"""What is left to run, as JSON: tokens (positions in the graph) and blocks.

A token is one path of control at one node. A block groups the tokens of one loop iteration
or of one parallel fan-out; when its last token's path ends, the block is done (the next
iteration starts, or the join runs). The root block holds the top-level paths. The whole
state is small and JSON, so it is rewritten at every checkpoint; large collections live in
the run's variables, written once.
"""

ROOT = "root"


class RunState:
    def __init__(self, data=None):
        data = data or {}
        self.tokens: list[dict] = data.get("tokens", [])
        self.blocks: dict[str, dict] = data.get("blocks", {ROOT: {"kind": ROOT, "active": 0}})
        self.seq: int = data.get("seq", 0)

    @classmethod
    def initial(cls, entry_nodes):
        state = cls()
        for node_id in entry_nodes:
            state.add_token(node_id, ROOT, "")
        return state

    def to_json(self):
        return {"tokens": self.tokens, "blocks": self.blocks, "seq": self.seq}

    def next_id(self, prefix):
        self.seq += 1
        return f"{prefix}{self.seq}"

    def add_token(self, node_id, block_id, prefix, **extra):
        token = {"id": self.next_id("t"), "node": node_id, "block": block_id, "prefix": prefix}
        token.update(extra)
        self.tokens.append(token)
        self.blocks[block_id]["active"] += 1
        return token

    def remove_token(self, token):
        self.tokens = [t for t in self.tokens if t["id"] != token["id"]]

    def add_block(self, kind, parent, **fields):
        block_id = self.next_id("b")
        self.blocks[block_id] = {"kind": kind, "parent": parent, "active": 0, **fields}
        return block_id

    def block_chain(self, block_id):
        """The block and its ancestors, innermost first."""
        while block_id is not None:
            block = self.blocks[block_id]
            yield block_id, block
            block_id = block.get("parent")
