"""Live messages over a Redis channel layer leave through one publisher thread: in order,
without the step waiting for the network, and a burst as one `live.batch` per group."""

import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers

from tests.conftest import require
from tests.runtime.harness import redis_available
from workflows import live

REDIS_LAYER = "redis://127.0.0.1:6379/11"  # the runtime tests and the benchmark use 12-15


@pytest.fixture
def redis_layer(settings):
    require(redis_available(), "Redis at 127.0.0.1:6379")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_LAYER], "prefix": f"test-{uuid.uuid4().hex[:8]}"},
        }
    }
    channel_layers.backends.clear()
    yield channel_layers["default"]
    channel_layers.backends.clear()


def received(layer, channel, count):
    async def receive_all():
        return [await layer.receive(channel) for _ in range(count)]

    return async_to_sync(receive_all)()


def step(number):
    return {"type": "live.step", "execution": "ex_1", "step": {"id": number}}


def unpacked(layer, channel, count):
    messages = []
    while len(messages) < count:
        (message,) = received(layer, channel, 1)
        messages.extend(message["messages"] if message["type"] == "live.batch" else [message])
    return messages


def test_messages_arrive_in_the_order_they_were_given(redis_layer):
    channel = async_to_sync(redis_layer.new_channel)()
    async_to_sync(redis_layer.group_add)("execution.ex_1", channel)
    for number in range(20):
        live.group_send("execution.ex_1", step(number))
    assert live.drain(5)
    assert [m["step"]["id"] for m in unpacked(redis_layer, channel, 20)] == list(range(20))


def test_what_piled_up_goes_as_one_batch_per_group(redis_layer):
    first = async_to_sync(redis_layer.new_channel)()
    second = async_to_sync(redis_layer.new_channel)()
    async_to_sync(redis_layer.group_add)("execution.ex_a", first)
    async_to_sync(redis_layer.group_add)("execution.ex_b", second)
    items = [(redis_layer, "execution.ex_a", step(n)) for n in range(3)]
    items.insert(1, (redis_layer, "execution.ex_b", step(9)))
    async_to_sync(live._send_batched)(items)
    (batch,) = received(redis_layer, first, 1)
    assert batch["type"] == "live.batch"
    assert [m["step"]["id"] for m in batch["messages"]] == [0, 1, 2]
    assert received(redis_layer, second, 1) == [step(9)]


def test_a_single_message_goes_as_it_is(redis_layer):
    channel = async_to_sync(redis_layer.new_channel)()
    async_to_sync(redis_layer.group_add)("execution.ex_2", channel)
    live.group_send("execution.ex_2", {"type": "live.execution", "execution": "ex_2"})
    assert live.drain(5)
    (message,) = received(redis_layer, channel, 1)
    assert message == {"type": "live.execution", "execution": "ex_2"}


def test_a_batch_reaches_each_handler_of_a_consumer():
    class Consumer(live.BatchedMessages):
        def __init__(self):
            self.seen = []

        async def dispatch(self, message):
            self.seen.append(message["type"])

    consumer = Consumer()
    async_to_sync(consumer.live_batch)({"messages": [step(1), {"type": "live.execution"}]})
    assert consumer.seen == ["live.step", "live.execution"]
