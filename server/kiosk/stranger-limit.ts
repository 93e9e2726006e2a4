/**
 * The stranger-event budget of one kiosk: at most `perMinute` unknown events in any 60 s, so a
 * busy lobby (or someone waving at the camera) cannot flood webhooks and MQTT. Shared by the
 * kiosk's sessions (a reconnect does not reset it).
 */
export class StrangerBudget {
  private readonly times: number[] = [];

  constructor(private readonly perMinute: number) {}

  /** Takes one from the budget at `now` (ms); false when the last minute already had `perMinute`. */
  take(now: number): boolean {
    while (this.times.length > 0 && now - this.times[0] >= 60_000) this.times.shift();
    if (this.times.length >= this.perMinute) return false;
    this.times.push(now);
    return true;
  }
}
