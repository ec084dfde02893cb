"""A LightGBM booster laid out as flat arrays for the TreeSHAP kernel (`model.treeshap`).

Split nodes of every tree in parent-first order with their decision rules (threshold, NaN and zero
flag bits, categorical bitsets) and the bit of the path slot each clears; leaves grouped by the number
of distinct features on their path (d), stored slot-major with each slot's cover product z, and the
Gauss-Legendre points and weights per d.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NAN_BIT, ZERO_BIT = 1, 2  # a numerical node's flag bits: where NaN and zero go (1: left)
MAX_SLOTS = 64  # distinct features on one root-to-leaf path: one bit each in a uint64


def gauss_legendre(most: int) -> tuple[np.ndarray, np.ndarray]:
    """Points and weights on [0, 1] of the n-point Gauss-Legendre rule in row n, for n = 1..most."""
    points = np.zeros((most + 1, most))
    weights = np.zeros((most + 1, most))
    for n in range(1, most + 1):
        s, w = np.polynomial.legendre.leggauss(n)
        points[n, :n] = (s + 1) / 2
        weights[n, :n] = w / 2
    return points, weights


def _flags(node: dict[str, Any], threshold: float) -> int:
    """Where a numerical node sends NaN and zero, by LightGBM's missing-value rules, as flag bits."""
    missing, default_left = node["missing_type"], bool(node["default_left"])
    zero_left = threshold >= 0.0  # 0.0 <= threshold: zero compared like any value
    if missing == "Zero":  # zero, and NaN taken as zero, follow the default
        return (1 << NAN_BIT | 1 << ZERO_BIT) * default_left
    if missing == "NaN":
        return (1 << NAN_BIT) * default_left | (1 << ZERO_BIT) * zero_left
    if missing == "None":  # NaN is compared as zero
        return (1 << NAN_BIT | 1 << ZERO_BIT) * zero_left
    raise ValueError(f"unknown missing type {missing!r}")


def split_thresholds(model: str) -> list[list[float]]:
    """Each tree's split thresholds from the model text, at full precision and infinities included."""
    trees: list[list[float]] = []
    for line in model.splitlines():
        if line.startswith("Tree="):
            trees.append([])
        elif line.startswith("threshold=") and trees:
            trees[-1] = [float(v) for v in line.removeprefix("threshold=").split()]
        elif line.startswith("is_linear=1"):
            raise ValueError("TreeShap does not handle linear trees")
    return trees


class Flattener:
    """Collects the trees of a dumped model: split nodes in preorder, leaves with their paths."""

    def __init__(self) -> None:
        self.nodes: dict[str, list[Any]] = {
            k: [] for k in ("feature", "threshold", "flags", "clear", "left", "right", "categories")
        }
        self.roots: list[int] = []
        self.leaves: list[tuple[float, list[int], list[float]]] = []  # value, slot features, slot z
        self.bias = 0.0

    def tree(self, root: dict[str, Any], thresholds: list[float]) -> None:
        """Add one tree; `thresholds` by split index, as the model text has them (the dump caps at 1e300)."""
        if "split_index" not in root:  # a single leaf (dumped without a leaf index): all expected value
            self.bias += float(root["leaf_value"])
            return
        self.roots.append(len(self.nodes["feature"]))
        counted: list[tuple[int, float, float]] = []
        self._node(root, [], [], thresholds, counted)
        # the expected value as Tree::ExpectedValue adds it up, in LightGBM's leaf order
        total = float(root["internal_count"])
        self.bias += sum(count / total * v for _, count, v in sorted(counted))

    def _node(
        self,
        node: dict[str, Any],
        feats: list[int],
        zs: list[float],
        thresholds: list[float],
        counted: list[tuple[int, float, float]],
    ) -> int:
        """Append `node` and its subtree; returns its index (a leaf: ~its index among the leaves)."""
        if "split_index" not in node:
            counted.append((int(node["leaf_index"]), float(node["leaf_count"]), float(node["leaf_value"])))
            self.leaves.append((float(node["leaf_value"]), feats, zs))
            return ~(len(self.leaves) - 1)
        at = len(self.nodes["feature"])
        f = int(node["split_feature"])
        slot = feats.index(f) if f in feats else len(feats)
        if slot >= MAX_SLOTS:
            raise ValueError(f"a path splits on more than {MAX_SLOTS} distinct features")
        if node["decision_type"] == "==":  # the threshold lists the categories that go left: "1||3||5"
            row = {"threshold": 0.0, "flags": 0, "categories": [int(c) for c in str(node["threshold"]).split("||")]}
        elif node["decision_type"] == "<=":
            threshold = thresholds[int(node["split_index"])]
            row = {"threshold": threshold, "flags": _flags(node, threshold), "categories": None}
        else:
            raise ValueError(f"unknown decision type {node['decision_type']!r}")
        row |= {"feature": f, "clear": ~(1 << slot) & (2**64 - 1), "left": 0, "right": 0}
        for key, v in row.items():
            self.nodes[key].append(v)
        count = float(node["internal_count"])
        for side in ("left", "right"):
            child = node[f"{side}_child"]
            ratio = float(child["internal_count" if "internal_count" in child else "leaf_count"]) / count
            if slot < len(feats):  # a feature split on again: its cover ratios multiply
                z = list(zs)
                z[slot] *= ratio
                self.nodes[side][at] = self._node(child, feats, z, thresholds, counted)
            else:
                self.nodes[side][at] = self._node(child, [*feats, f], [*zs, ratio], thresholds, counted)
        return at

    def bitsets(self, n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Which features are categorical; each node's bitset offset and length in words; the bits.

        Word 0 is all zeros: a numerical node's bitset, so that every node can read one."""
        categorical = np.zeros(n_features, np.bool_)
        at = np.zeros(len(self.nodes["feature"]), np.uint64)
        words = np.ones(len(self.nodes["feature"]), np.uint64)
        bits = [0]
        for i, cats in enumerate(self.nodes["categories"]):
            if cats is not None:
                categorical[self.nodes["feature"][i]] = True
                node = [0] * (max(cats) // 64 + 1)
                for c in cats:
                    node[c // 64] |= 1 << (c % 64)
                at[i], words[i] = len(bits), len(node)
                bits.extend(node)
        for f, cats in zip(self.nodes["feature"], self.nodes["categories"]):
            if cats is None and categorical[f]:
                raise ValueError(f"feature {f} has both numerical and categorical splits")
        return categorical, at, words, np.asarray(bits, np.uint64)

    def arrays(self, n_features: int) -> tuple[np.ndarray, ...]:
        """The kernel's arguments after `bias`: nodes, then leaves grouped by path length, slot-major."""
        inner = len(self.nodes["feature"])
        depth = np.asarray([len(feats) for _, feats, _ in self.leaves], np.int64)
        order = np.argsort(depth, kind="stable")
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        # a child's index into the masks: split nodes first, then the leaves in their grouped order
        children = {
            side: np.asarray([c if c >= 0 else inner + position[~c] for c in self.nodes[side]], np.uint64)
            for side in ("left", "right")
        }
        group_d, starts = np.unique(depth[order], return_index=True)
        group_off = np.append(starts, len(order)).astype(np.int64)
        pair_off = np.concatenate([[0], np.cumsum(group_d * np.diff(group_off))]).astype(np.int64)
        path_z, path_feature = [np.zeros(0)], [np.zeros(0, np.uint64)]
        for d, a, b in zip(group_d, group_off, group_off[1:]):  # each group's slots as rows of a (d, leaves) array
            members = [self.leaves[i] for i in order[a:b]]
            path_z.append(np.asarray([zs for _, _, zs in members], np.float64).reshape(-1, d).T.ravel())
            path_feature.append(np.asarray([feats for _, feats, _ in members], np.uint64).reshape(-1, d).T.ravel())
        categorical, bits_at, words, bits = self.bitsets(n_features)
        nodes = self.nodes
        return (
            categorical,
            np.asarray(nodes["feature"], np.uint64),
            np.asarray(nodes["threshold"], np.float64),
            np.asarray(nodes["flags"], np.int64),
            bits_at,
            words,
            np.asarray(nodes["clear"], np.uint64),
            children["left"],
            children["right"],
            bits,
            np.asarray(self.roots, np.int64),
            group_d.astype(np.int64),
            group_off,
            pair_off,
            np.asarray([self.leaves[i][0] for i in order], np.float64),
            np.concatenate(path_z),
            np.concatenate(path_feature),
            *gauss_legendre((int(depth.max(initial=1)) + 1) // 2),
        )
