"""The torch-free .pt/.pth reader: round trips against torch.save, hand-crafted malformed files,
and fuzzing (random views and storages, byte flips and truncations of real files)."""

import io
import itertools
import pickle
import struct
import zipfile
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genjax.metrics import torchfile

# derandomize: the same examples on every run, so that CI cannot pass or fail by chance
FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# ------------------------------------------------------------------ hand-written pickles and files


class G(NamedTuple):  # GLOBAL module.name
    module: str
    name: str


class Call(NamedTuple):  # REDUCE fn(*args)
    fn: Any
    args: tuple


class PersId(NamedTuple):  # BINPERSID pid
    pid: tuple


def _enc(x) -> bytes:
    if isinstance(x, G):
        return f"c{x.module}\n{x.name}\n".encode()
    if isinstance(x, Call):
        return _enc(x.fn) + _enc(tuple(x.args)) + b"R"
    if isinstance(x, PersId):
        return _enc(x.pid) + b"Q"
    if x is None or isinstance(x, bool):
        return {None: b"N", True: b"\x88", False: b"\x89"}[x]
    if isinstance(x, int):  # LONG1: any sign and size
        n = x.bit_length() // 8 + 1
        return b"\x8a" + bytes([n]) + x.to_bytes(n, "little", signed=True)
    if isinstance(x, float):
        return b"G" + struct.pack(">d", x)
    if isinstance(x, str):
        return b"X" + struct.pack("<I", len(x.encode())) + x.encode()
    if isinstance(x, tuple):
        return b"(" + b"".join(map(_enc, x)) + b"t"
    if isinstance(x, list):
        return b"(" + b"".join(map(_enc, x)) + b"l"
    if isinstance(x, dict):
        return b"}" + b"".join(_enc(k) + _enc(v) + b"s" for k, v in x.items())
    raise TypeError(x)


def dumps(obj) -> bytes:
    """Protocol-2 pickle of plain values plus GLOBAL / REDUCE / BINPERSID, as torch writes them."""
    return b"\x80\x02" + _enc(obj) + b"."


def tensor(offset, size, stride, *, key="0", storage="FloatStorage", numel=4, legacy=False, view=None):
    pid = ("storage", G("torch", storage), key, "cpu", numel) + ((view,) if legacy else ())
    hooks = Call(G("collections", "OrderedDict"), ())
    return Call(G("torch._utils", "_rebuild_tensor_v2"), (PersId(pid), offset, size, stride, False, hooks))


def write_zip(path, obj, storages: dict, pkl: bytes | None = None) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", dumps(obj) if pkl is None else pkl)
        zf.writestr("archive/byteorder", "little")
        for key, raw in storages.items():
            zf.writestr(f"archive/data/{key}", raw)
        zf.writestr("archive/version", "3\n")
    return str(path)


def write_legacy(path, obj, storages: dict, keys=None, magic=0x1950A86A20F9469CFC6C) -> str:
    """`storages`: key -> (element count written before the bytes, bytes)."""
    info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    head = b"".join(pickle.dumps(x, protocol=2) for x in (magic, 1001, info))
    keys = list(storages) if keys is None else keys
    body = b"".join(struct.pack("<q", count) + raw for count, raw in storages.values())
    path.write_bytes(head + dumps(obj) + pickle.dumps(keys, protocol=2) + body)
    return str(path)


def write(path, legacy, obj, raw: bytes, count=None) -> str:
    """One storage '0' holding `raw`; the legacy element count is `count` (default: `raw` as floats)."""
    if legacy:
        return write_legacy(path, obj, {"0": (len(raw) // 4 if count is None else count, raw)})
    return write_zip(path, obj, {"0": raw})


def same(ours, theirs) -> bool:
    """`ours` (numpy) holds exactly the values, dtypes and structure of `theirs` (torch)."""
    if hasattr(theirs, "detach"):  # a tensor: same dtype, shape and bytes (NaNs included)
        ref = theirs.detach().numpy()
        return isinstance(ours, np.ndarray) and [ours.dtype, ours.shape, ours.tobytes()] == [
            ref.dtype, ref.shape, ref.tobytes()
        ]  # fmt: skip
    if isinstance(theirs, dict):
        return isinstance(ours, dict) and list(ours) == list(theirs) and all(same(ours[k], theirs[k]) for k in theirs)
    if isinstance(theirs, (list, tuple)):
        return type(ours) is type(theirs) and len(ours) == len(theirs) and all(map(same, ours, theirs))
    return type(ours) is type(theirs) and ours == theirs


FOUR = np.arange(1, 5, dtype="<f4").tobytes()  # a FloatStorage of 4 elements

# ----------------------------------------------------------------------- round trips with torch


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_round_trip_matches_torch(tmp_path, legacy):
    torch = pytest.importorskip("torch")
    x = torch.arange(60.0).reshape(3, 4, 5)
    sd = {
        "contiguous": x,
        "transposed": x[0].t(),
        "permuted": x.permute(2, 0, 1),
        "offset_slice": x[1:, 2:, 1:4],
        "step_slice": x[:, ::2, ::3],
        "expanded": torch.arange(3.0).reshape(3, 1).expand(3, 4),  # stride 0
        "scalar": torch.tensor(3.5, dtype=torch.float64),
        "scalar_view": x[2, 3, 4],  # 0-d with an offset
        "empty": torch.empty(0, 3),
        "empty_view": x[:, 4:, :],
        "param": torch.nn.Parameter(torch.ones(2, 2)),
        "int8": torch.arange(-5, 5, dtype=torch.int8).flip(0)[2:],
        "uint8": torch.arange(200, 210, dtype=torch.uint8).reshape(2, 5).t(),
        "int16": torch.tensor([-3, 7], dtype=torch.int16),
        "int32": torch.arange(6, dtype=torch.int32).reshape(2, 3)[:, 1:],
        "int64": torch.arange(20, dtype=torch.int64)[5:9],
        "half": torch.linspace(-2, 2, 7, dtype=torch.float16),
        "bool": torch.tensor([True, False, True]).reshape(3, 1).expand(3, 2),
        "nested": [x[0, 0], (x[1, 1:3],)],
    }
    path = tmp_path / "t.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
    got = torchfile.load(str(path))
    assert same(got, torch.load(path, weights_only=True))
    for value in [*(got[k] for k in sd if k != "nested"), got["nested"][0], got["nested"][1][0]]:
        assert value.flags.owndata and value.flags.c_contiguous and value.flags.writeable  # a copy


# ------------------------------------------------------------------------- malformed files

BAD_VIEWS = {
    "negative offset": ((-1, (2,), (1,)), "negative offset, size or stride"),
    "negative stride": ((3, (2,), (-1,)), "negative offset, size or stride"),
    "negative size": ((0, (-1,), (1,)), "negative offset, size or stride"),
    "size past end": (
        (0, (5,), (1,)),
        r"\(size \(5,\), stride \(1,\), offset 0\) reaches element 4 of a storage of 4 ",
    ),
    "stride past end": ((0, (3,), (2,)), "reaches element 4 of a storage of 4 elements"),
    "offset past end": ((2, (2, 2), (1, 1)), "reaches element 4 of a storage of 4 elements"),
    "scalar past end": ((4, (), ()), r"\(size \(\), stride \(\), offset 4\) reaches element 4"),
    "huge stride": ((0, (2,), (2**62,)), f"reaches element {2**62}"),
    "rank mismatch": ((0, (2, 2), (1,)), "not two int tuples of one length"),
    "float stride": ((0, (2,), (1.0,)), "is not an int"),
}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("case", BAD_VIEWS, ids=list(BAD_VIEWS))
def test_rejects_views_outside_their_storage(tmp_path, legacy, case):
    (offset, size, stride), message = BAD_VIEWS[case]
    path = write(tmp_path / "bad.pt", legacy, {"t": tensor(offset, size, stride, legacy=legacy)}, FOUR)
    with pytest.raises(ValueError, match=message) as err:
        torchfile.load(path)
    assert str(err.value).startswith(f"{path}: ")


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_accepts_edge_views(tmp_path, legacy):
    views = {
        "last": (3, (), ()),
        "full": (0, (2, 2), (2, 1)),
        "overlap": (1, (2, 2), (1, 1)),
        "empty_far": (99, (0, 3), (1, 1000)),  # zero elements: nothing read
        "unit_dim_big_stride": (0, (1, 4), (2**70, 1)),  # a size-1 dim never steps
        "repeat": (2, (3,), (0,)),
    }
    obj = {k: tensor(*v, legacy=legacy) for k, v in views.items()}
    got = torchfile.load(write(tmp_path / "ok.pt", legacy, obj, FOUR))
    np.testing.assert_array_equal(got["last"], np.float32(4))
    np.testing.assert_array_equal(got["full"], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(got["overlap"], [[2, 3], [3, 4]])
    assert got["empty_far"].shape == (0, 3)
    np.testing.assert_array_equal(got["unit_dim_big_stride"], [[1, 2, 3, 4]])
    np.testing.assert_array_equal(got["repeat"], [3, 3, 3])


@pytest.mark.parametrize(
    "raw, message",
    [(FOUR[:12], r"archive/data/0 holds 12 bytes, but 4 elements of FloatStorage need 16"), (FOUR + b"\0", "holds 17")],
    ids=["short", "long"],
)
def test_rejects_zip_storage_of_the_wrong_size(tmp_path, raw, message):
    with pytest.raises(ValueError, match=message):
        torchfile.load(write_zip(tmp_path / "bad.pt", {"t": tensor(0, (4,), (1,))}, {"0": raw}))


def test_rejects_short_legacy_storages(tmp_path):
    obj = {"t": tensor(0, (4,), (1,), legacy=True)}
    with pytest.raises(ValueError, match="storage '0': 4 elements need 16 bytes, the file has 12"):
        torchfile.load(write_legacy(tmp_path / "short.pth", obj, {"0": (4, FOUR[:12])}))
    with pytest.raises(ValueError, match="storage '0': element count 3 in the file, 4 in its tensor pickle"):
        torchfile.load(write_legacy(tmp_path / "count.pth", obj, {"0": (3, FOUR[:12])}))
    with pytest.raises(ValueError, match="storage '0': element count None in the file"):
        torchfile.load(write_legacy(tmp_path / "nocount.pth", obj, {}, keys=["0"]))  # file ends before it


ONE = {"t": tensor(0, (1,), (1,))}
BAD_STORAGES = {
    "unknown type": (
        {"t": tensor(0, (1,), (1,), storage="BFloat16Storage")},
        {"0": b"\0\0"},
        "unsupported storage type 'BFloat16Storage'",
    ),
    "missing entry": (ONE, {}, r"storage '0': no archive/data/0 in the archive"),
    "not a storage": (
        {"t": Call(G("torch._utils", "_rebuild_tensor_v2"), (7, 0, (1,), (1,)))},
        {},
        "int, not a st",
    ),
    "negative count": ({"t": tensor(0, (1,), (1,), numel=-1)}, {"0": b""}, "element count -1: need"),
    "conflicting": (
        {"a": tensor(0, (1,), (1,)), "b": tensor(0, (1,), (1,), storage="IntStorage")},
        {"0": FOUR},
        "storage '0' declared as",
    ),
}


@pytest.mark.parametrize("case", BAD_STORAGES)
def test_rejects_malformed_storages(tmp_path, case):
    obj, storages, message = BAD_STORAGES[case]
    with pytest.raises(ValueError, match=message):
        torchfile.load(write_zip(tmp_path / "bad.pt", obj, storages))


LEGACY_FOUR = {"t": tensor(0, (4,), (1,), legacy=True)}
BAD_LEGACY_TABLES = {
    "unlisted": (LEGACY_FOUR, {}, [], "storage list"),
    "unused": (LEGACY_FOUR, {"0": (4, FOUR), "1": (4, FOUR)}, None, r"storage list \['0', '1'\]"),
    "listed twice": (LEGACY_FOUR, {"0": (4, FOUR)}, ["0", "0"], "storage list"),
    "view past end": (
        {"t": tensor(0, (2,), (1,), legacy=True, view=("v", 3, 2))},
        {"0": (4, FOUR)},
        None,
        r"storage view \('v', 3, 2\) reaches past storage '0' of 4 elements",
    ),
    "view overreaching it": (
        {"t": tensor(0, (3,), (1,), legacy=True, view=("v", 2, 2))},
        {"0": (4, FOUR)},
        None,
        "reaches element 2 of a storage of 2 elements",
    ),
}


@pytest.mark.parametrize("case", BAD_LEGACY_TABLES)
def test_rejects_malformed_legacy_storage_tables(tmp_path, case):
    obj, storages, keys, message = BAD_LEGACY_TABLES[case]
    with pytest.raises(ValueError, match=message):
        torchfile.load(write_legacy(tmp_path / "bad.pth", obj, storages, keys=keys))


def test_reads_legacy_storage_views(tmp_path):
    view = {"t": tensor(1, (2,), (1,), legacy=True, view=("v", 1, 3))}  # old torch's storage views
    np.testing.assert_array_equal(torchfile.load(write_legacy(tmp_path / "v.pth", view, {"0": (4, FOUR)}))["t"], [3, 4])


def test_rejects_malformed_files(tmp_path):
    good = write_zip(tmp_path / "good.pt", {"t": tensor(0, (4,), (1,))}, {"0": FOUR})
    data = open(good, "rb").read()
    t = {"t": tensor(0, (4,), (1,), legacy=True)}
    legacy = open(write_legacy(tmp_path / "good.pth", t, {"0": (4, FOUR)}), "rb").read()
    wrong_magic = open(write_legacy(tmp_path / "magic.pth", t, {"0": (4, FOUR)}, magic=1234), "rb").read()
    cases = {
        "empty": (b"", "no legacy magic number"),
        "text": (b"hello world\n", "no legacy magic number"),
        "wrong magic": (wrong_magic, "no legacy magic number"),
        "truncated zip": (data[: len(data) // 2], "malformed PyTorch file .BadZipFile"),
        "zip header only": (data[:30], "malformed PyTorch file .BadZipFile"),
        "truncated legacy": (legacy[:-3], "4 elements need 16 bytes, the file has 13"),
        "legacy without storages": (legacy[: -16 - 8 - 2], "malformed PyTorch file"),
        "legacy cut in its pickle": (legacy[:150], "malformed PyTorch file"),
    }
    for name, (raw, message) in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(ValueError, match=message):
            torchfile.load(str(tmp_path / name))
    bad_pickles = {
        "garbage": (b"\xff\x00garbage", "malformed PyTorch file .ValueError: at position 0, opcode b'.xff' unknown"),
        "memo bomb": (b"\x80\x02Nr\x00\x00\x00\x40.", "stores to memo slot 1073741824 after 2 opcodes"),
        "cut": (dumps({"t": tensor(0, (4,), (1,))})[:-9], "malformed PyTorch file"),
        "class": (pickle.dumps(print), "refusing to load builtins.print"),
        "os.system": (b"cos\nsystem\n(S'true'\ntR.", "refusing to load os.system"),
        "persistent id": (b"\x80\x02X\x03\x00\x00\x00abcQ.", "unsupported persistent id 'abc'"),
    }
    for name, (pkl, message) in bad_pickles.items():
        with pytest.raises(ValueError, match=message):
            torchfile.load(write_zip(tmp_path / f"{name}.pt", None, {"0": FOUR}, pkl=pkl))
    with zipfile.ZipFile(tmp_path / "nopkl.pt", "w") as zf:
        zf.writestr("archive/other.pkl", b"")
    with pytest.raises(ValueError, match=r"no single <root>/data.pkl"):
        torchfile.load(str(tmp_path / "nopkl.pt"))
    with pytest.raises(FileNotFoundError):
        torchfile.load(str(tmp_path / "missing.pt"))


def test_rejects_patched_real_files(tmp_path):
    """Bytes patched in files written by torch.save itself."""
    torch = pytest.importorskip("torch")
    t = torch.arange(6.0).reshape(2, 3)
    torch.save({"a": t}, tmp_path / "l.pth", _use_new_zipfile_serialization=False)
    data = (tmp_path / "l.pth").read_bytes()
    count_at = len(data) - 24 - 8  # int64 element count before the 24 storage bytes
    assert data[count_at : count_at + 8] == struct.pack("<q", 6)
    (tmp_path / "short.pth").write_bytes(data[:-4])
    with pytest.raises(ValueError, match="6 elements need 24 bytes, the file has 20"):
        torchfile.load(str(tmp_path / "short.pth"))
    (tmp_path / "count.pth").write_bytes(data[:count_at] + struct.pack("<q", 5) + data[count_at + 8 : -4])
    with pytest.raises(ValueError, match="element count 5 in the file, 6 in its tensor pickle"):
        torchfile.load(str(tmp_path / "count.pth"))
    size = data.index(b"K\x02K\x03\x86")  # the size tuple (2, 3)
    (tmp_path / "size.pth").write_bytes(data[:size] + b"K\x03" + data[size + 2 :])
    with pytest.raises(ValueError, match=r"\(size \(3, 3\), stride \(3, 1\), offset 0\) reaches element 8 of a st"):
        torchfile.load(str(tmp_path / "size.pth"))

    torch.save({"a": t}, tmp_path / "z.pt")
    with zipfile.ZipFile(tmp_path / "z.pt") as src, zipfile.ZipFile(tmp_path / "zshort.pt", "w") as dst:
        for info in src.infolist():
            raw = src.read(info)
            dst.writestr(info.filename, raw[:-4] if info.filename == "z/data/0" else raw)
    with pytest.raises(ValueError, match="z/data/0 holds 20 bytes, but 6 elements of FloatStorage need 24"):
        torchfile.load(str(tmp_path / "zshort.pt"))


# ------------------------------------------------------------------------------------ fuzzing

DTYPES = {"FloatStorage": "<f4", "LongStorage": "<i8", "ShortStorage": "<i2", "ByteStorage": "u1", "BoolStorage": "?"}


def expected_view(storage: np.ndarray, offset, size, stride):
    """What torch gives for a view, by enumerating its indices (None: torch would refuse it)."""
    if offset < 0 or any(n < 0 for n in size) or any(s < 0 for s in stride):
        return None
    index = [offset + sum(i * s for i, s in zip(ix, stride)) for ix in itertools.product(*map(range, size))]
    if any(i >= storage.size for i in index):
        return None
    return storage[np.asarray(index, np.int64)].reshape(size) if index else np.zeros(size, storage.dtype)


@st.composite
def views(draw):
    kind = draw(st.sampled_from(sorted(DTYPES)))
    itemsize = np.dtype(DTYPES[kind]).itemsize
    numel = draw(st.integers(0, 12))
    ndim = draw(st.integers(0, 3))
    size = tuple(draw(st.lists(st.integers(-1, 5), min_size=ndim, max_size=ndim)))
    stride = tuple(draw(st.lists(st.integers(-1, 6), min_size=ndim, max_size=ndim)))
    offset = draw(st.integers(-1, 14))
    extra = draw(st.sampled_from([0, 0, 0, -itemsize, itemsize, -1]))  # bytes missing or too many
    raw = draw(st.binary(min_size=max(numel * itemsize + extra, 0), max_size=max(numel * itemsize + extra, 0)))
    count = numel + draw(st.sampled_from([0, 0, 0, 0, -1, 1]))  # legacy element count in the file
    return kind, numel, raw, count, offset, size, stride


@FUZZ
@given(view=views(), legacy=st.booleans())
def test_fuzz_views_read_inside_their_storage_or_raise(tmp_path, view, legacy):
    kind, numel, raw, count, offset, size, stride = view
    dtype = np.dtype(DTYPES[kind])
    obj = {"t": tensor(offset, size, stride, storage=kind, numel=numel, legacy=legacy)}
    path = write(tmp_path / "f.pt", legacy, obj, raw, count)
    if legacy:  # the count must match; bytes after the last storage are not read
        whole = count == numel and len(raw) >= numel * dtype.itemsize
    else:
        whole = len(raw) == numel * dtype.itemsize
    want = expected_view(np.frombuffer(raw[: numel * dtype.itemsize], dtype), offset, size, stride) if whole else None
    try:
        got = torchfile.load(path)["t"]
    except ValueError:
        assert want is None, (view, legacy)
        return
    assert want is not None, (view, legacy)
    assert got.dtype == dtype and got.shape == size and got.flags.owndata
    assert got.tobytes() == want.tobytes()


@pytest.fixture(scope="module")
def real_files(tmp_path_factory):
    torch = pytest.importorskip("torch")
    x = torch.arange(24, dtype=torch.int16).reshape(4, 6)
    sd = {"w": x[1:, ::2], "b": torch.tensor([1.5, -2.0]), "s": torch.tensor(7, dtype=torch.int64)}
    out = {"sd": sd}
    for legacy in (False, True):
        buf = io.BytesIO()
        torch.save(sd, buf, _use_new_zipfile_serialization=not legacy)
        out[legacy] = buf.getvalue()
    return torch, out


@FUZZ
@given(legacy=st.booleans(), edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=3),
       cut=st.one_of(st.none(), st.floats(0, 1, exclude_max=True)))  # fmt: skip
def test_fuzz_corrupted_real_files_load_like_torch_or_raise(tmp_path, real_files, legacy, edits, cut):
    torch, files = real_files
    sd = files["sd"]
    data = bytearray(files[legacy])
    for where, flip in edits:
        data[int(where * len(data))] ^= flip
    if cut is not None:
        data = data[: int(cut * len(data))]
    (tmp_path / "f.pt").write_bytes(data)
    try:
        got = torchfile.load(str(tmp_path / "f.pt"))
    except ValueError:
        return
    assert cut is None, "a truncated file must not load"
    try:
        want = torch.load(io.BytesIO(bytes(data)), weights_only=True)
    except Exception:  # torch also reads zip entries we skip
        want = sd
    # the entries we read are CRC-checked: where torch reads a damaged header or directory
    # differently (another offset), what we return is still the original
    assert same(got, want) or same(got, sd), (got, want)


@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(view=views(), legacy=st.booleans())
def test_fuzz_crafted_views_agree_with_torch(tmp_path, view, legacy):
    """The hand-written files are real PyTorch files: what we load, torch.load loads the same."""
    torch = pytest.importorskip("torch")
    kind, numel, raw, count, offset, size, stride = view
    obj = {"t": tensor(offset, size, stride, storage=kind, numel=numel, legacy=legacy)}
    path = write(tmp_path / "f.pt", legacy, obj, raw, count)
    try:
        got = torchfile.load(path)
    except ValueError:
        got = None
    try:
        want = torch.load(path, weights_only=True)
    except Exception:
        want = None
    if got is not None:
        assert want is not None and same(got, want), (view, legacy, got, want)
    elif want is not None:  # torch lets negative sizes / strides through where no element is read
        assert min(size + stride, default=0) < 0, (view, legacy, want)
