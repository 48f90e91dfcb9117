"""The memory handler that keeps large freed buffers (``native/allocator.py``): blocks
come back for allocations of their exact size, zeroed where NumPy asks for zeros;
the table keeps at most ``SLOTS`` blocks and gives back the oldest first; blocks freed
in another thread or outside the scope return to it; only compiled graphs with large
arrays run inside it; its huge-page twin starts new blocks of ``HUGE_FROM`` bytes or
more on huge-page boundaries, and tensors made from large host data use it."""

import threading

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend import get_backend
from nerve.backend.numpy_backend.native import allocator

handler_name = np._core.multiarray.get_handler_name
BIG = allocator.MIN_BYTES // 4  # float32 elements of the smallest kept block


@pytest.fixture
def reuse():
    """The handler's scope, with an empty table before and after the test."""
    scope = allocator.scope()
    if scope is None:
        pytest.skip("no C compiler or no NumPy handler API: arrays are allocated as usual")
    allocator.release()
    yield scope
    allocator.release()


def test_arrays_made_in_the_scope_use_the_handler_and_others_do_not(reuse):
    with reuse:
        inside, small = np.empty(BIG, np.float32), np.empty(3, np.float32)
    outside = np.empty(BIG, np.float32)
    assert handler_name(inside) == handler_name(small) == allocator.NAME
    assert handler_name(outside) == handler_name() == "default_allocator"


@pytest.mark.parametrize("elements", [BIG, 3 * BIG + 5])
def test_a_freed_large_block_comes_back_for_the_same_size_only(reuse, elements):
    with reuse:
        a = np.empty(elements, np.float32)
        address = a.ctypes.data
        del a
        assert allocator.cached_bytes() == 4 * elements
        b = np.empty(elements + 1, np.float32)  # another size: a new block
        assert b.ctypes.data != address and allocator.cached_bytes() == 4 * elements
        c = np.empty(elements, np.float32)
        assert c.ctypes.data == address and allocator.cached_bytes() == 0


def test_small_blocks_are_not_kept(reuse):
    with reuse:
        a = np.empty(BIG - 1, np.float32)
        del a
    assert allocator.cached_bytes() == 0


def test_zeros_from_a_kept_block_are_zeros(reuse):
    with reuse:
        a = np.full(BIG, 7.0, np.float32)
        address = a.ctypes.data
        del a
        z = np.zeros(BIG, np.float32)
    assert z.ctypes.data == address
    assert not z.any()


def test_resizing_a_block_keeps_its_values(reuse):
    with reuse:
        a = np.arange(BIG, dtype=np.float32)
    a.resize(2 * BIG, refcheck=False)
    np.testing.assert_array_equal(a[:BIG], np.arange(BIG, dtype=np.float32))
    assert handler_name(a) == allocator.NAME


def test_the_table_gives_back_the_oldest_blocks_first(reuse):
    sizes = [4 * (BIG + i) for i in range(allocator.SLOTS + 5)]
    with reuse:
        arrays = [np.empty(size // 4, np.float32) for size in sizes]
    while arrays:  # freed in order: the first five are given back
        del arrays[0]
    assert allocator.cached_bytes() == sum(sizes[5:])
    with reuse:
        new = np.empty(sizes[0] // 4, np.float32)  # given back: a new block
        assert allocator.cached_bytes() == sum(sizes[5:])
        reused = np.empty(sizes[-1] // 4, np.float32)
        assert allocator.cached_bytes() == sum(sizes[5:-1])
    del new  # into the slot `reused` emptied
    assert allocator.cached_bytes() == sum(sizes[5:-1]) + sizes[0]
    del reused  # the table is full: the oldest kept block (sizes[5]) goes
    assert allocator.cached_bytes() == sum(sizes[6:]) + sizes[0]


def test_blocks_freed_in_another_thread_are_kept(reuse):
    with reuse:
        arrays = [np.empty(BIG, np.float32)]
    address = arrays[0].ctypes.data
    worker = threading.Thread(target=arrays.clear)
    worker.start()
    worker.join()
    with reuse:
        assert np.empty(BIG, np.float32).ctypes.data == address


def test_release_gives_every_block_back(reuse):
    with reuse:
        del [np.empty(BIG + i, np.float32) for i in range(3)][:]
    assert allocator.cached_bytes() > 0
    allocator.release()
    assert allocator.cached_bytes() == 0


def test_without_native_kernels_there_is_no_handler(monkeypatch):
    monkeypatch.setenv("NERVE_NATIVE", "0")
    allocator._install.cache_clear()
    try:
        assert allocator.scope() is None and allocator.cached_bytes() == 0
        with get_backend().run_scope(1 << 30):
            assert handler_name(np.empty(BIG, np.float32)) == "default_allocator"
    finally:
        monkeypatch.undo()
        allocator._install.cache_clear()


@pytest.mark.parametrize("rows", [2, 1024])
def test_only_graphs_with_large_arrays_run_in_the_scope(reuse, rows):
    x = np.random.default_rng(0).standard_normal((rows, 64)).astype("float32")
    step = nerve.function(lambda a: ops.tanh(ops.matmul(a, ops.transpose(a))) * 2.0)
    out = step(x).numpy()
    while out.base is not None:  # the array that owns the memory
        out = out.base
    large = rows * rows * 4 >= allocator.MIN_BYTES
    assert handler_name(out) == (allocator.NAME if large else "default_allocator")
    np.testing.assert_allclose(out, np.tanh(x @ x.T) * 2.0, rtol=1e-5, atol=1e-5)


def owner(array):
    """The array that owns ``array``'s memory."""
    while array.base is not None:
        array = array.base
    return array


def huge_aligned(array) -> bool:
    return array.ctypes.data % allocator.HUGE_PAGE == 0


@pytest.fixture
def huge(reuse):
    if not allocator.huge_pages():
        pytest.skip("the kernel grants no transparent huge pages here")
    return allocator.scope(huge=True)


@pytest.mark.parametrize("extra", [0, 1, allocator.HUGE_PAGE // 4 + 3])
def test_the_huge_twin_starts_large_blocks_on_huge_page_boundaries(huge, extra):
    elements = allocator.HUGE_FROM // 4 + extra
    with huge:
        large, medium = np.arange(elements, dtype=np.float32), np.ones(BIG, np.float32)
    assert handler_name(large) == handler_name(medium) == allocator.HUGE_NAME
    assert huge_aligned(large)
    np.testing.assert_array_equal(large[-3:], np.arange(elements - 3, elements, dtype=np.float32))
    address = large.ctypes.data
    del large  # into the table both handlers share
    assert allocator.cached_bytes() == 4 * elements
    with allocator.scope():
        assert np.empty(elements, np.float32).ctypes.data == address


def test_the_plain_handler_keeps_plain_pages(reuse):
    if not allocator.huge_pages():
        pytest.skip("the kernel grants no transparent huge pages here")
    with reuse:
        arrays = [np.empty(allocator.HUGE_FROM // 4 + i, np.float32) for i in range(4)]
    assert not all(huge_aligned(a) for a in arrays)


def test_the_backend_converts_from_the_allocators_threshold():
    # The backend keeps its own copy of HUGE_FROM so that small conversions import
    # nothing; the two must agree.
    from nerve.backend import numpy_backend

    assert numpy_backend._HUGE_FROM == allocator.HUGE_FROM


@pytest.mark.parametrize("shape", [(512, 512), (3, 100, 1000), (8, 8)])
def test_tensors_made_from_large_host_data_live_on_the_huge_page_twin(huge, shape):
    data = np.random.default_rng(1).standard_normal(shape).astype("float32")
    tensor = ops.convert_to_tensor(data)
    memory = owner(tensor.numpy())
    np.testing.assert_array_equal(tensor.numpy(), data)
    assert not np.shares_memory(tensor.numpy(), data)
    if data.nbytes >= allocator.HUGE_FROM:
        assert handler_name(memory) == allocator.HUGE_NAME and huge_aligned(memory)
        address = memory.ctypes.data
        del tensor, memory  # a loop converting batches of one size reuses the block
        assert owner(ops.convert_to_tensor(data).numpy()).ctypes.data == address
    else:
        assert handler_name(memory) == "default_allocator"
