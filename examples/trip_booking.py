"""Undoing work (saga compensation): book a flight, a hotel and a car; the car is sold out, so
the hotel and then the flight are cancelled again, newest first, each cancel a durable step.

    python examples/trip_booking.py              # runs TRIP-7 and prints its history
    romancy start trip_booking TRIP-7            # the same through the command line
"""

from __future__ import annotations

from romancy_cli import App, activity, workflow


@activity("cancel_flight")
def cancel_flight(ctx, booking: str, trip_id: str) -> None:
    # An undo gets the result of what it undoes, then that activity's arguments. Pass
    # ctx.idempotency_key to the airline so that a retried cancel is applied once.
    print(f"✈️  cancelling flight {booking} ({ctx.idempotency_key})")


@activity("cancel_hotel")
def cancel_hotel(ctx, booking: str, trip_id: str) -> None:
    print(f"🏨 cancelling hotel {booking}")


@activity("book_flight", compensate=cancel_flight)
def book_flight(ctx, trip_id: str) -> str:
    print(f"✈️  booking flight for {trip_id}")
    return f"FL-{trip_id}"


@activity("book_hotel", compensate=cancel_hotel)
def book_hotel(ctx, trip_id: str) -> str:
    print(f"🏨 booking hotel for {trip_id}")
    return f"HO-{trip_id}"


@activity("book_car")
def book_car(ctx, trip_id: str) -> str:
    raise RuntimeError(f"no car left for {trip_id}")


@workflow("trip_booking")
def trip_booking(ctx, trip_id: str) -> dict:
    flight = book_flight.execute(ctx, trip_id)
    hotel = book_hotel.execute(ctx, trip_id)
    car = book_car.execute(ctx, trip_id)  # fails: the hotel, then the flight are undone
    return {"flight": flight, "hotel": hotel, "car": car}


def main(database: str = "trip_booking.db") -> str:
    with App(database=database, worker_id="worker-1") as app:
        instance_id = trip_booking.start(app, "TRIP-7")
        instance = app.get(instance_id)
        print(f">>> {instance_id}: {instance.status}: {instance.error['message']}")
        for step in app.history(instance_id):
            print(f"    {step.seq} {step.kind} {step.name}")
    return instance_id


if __name__ == "__main__":
    main()
