import { io } from 'socket.io-client';
import {
  DASHBOARD_EVENTS,
  DASHBOARD_NAMESPACE,
  type DashboardClient,
  type DashboardOpenRound,
  type DashboardPhaseEvent,
  type DashboardRound,
  type DashboardRunEnded,
  type DashboardSnapshot,
} from '@fedlink/protocol/dashboard';
import { byId } from '../shared/dom.js';
import { DashboardState } from './state.js';
import { refreshAges, renderAll } from './views.js';

/** "Last seen" is relative: re-word it from the local clock this often (no request is made). */
const AGE_REFRESH_MS = 5_000;

const state = new DashboardState();
let frame = 0;

/** Bursts of events redraw once per animation frame. */
function redraw(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    renderAll(state);
  });
}

function setLive(kind: 'connecting' | 'live' | 'lost', text: string): void {
  const el = byId('live');
  el.dataset.live = kind;
  el.textContent = text;
}

// Everything arrives pushed over one read-only socket; the page never polls.
const socket = io(`${location.origin}${DASHBOARD_NAMESPACE}`, { transports: ['websocket'], reconnectionDelayMax: 10_000 });
socket.on('connect', () => setLive('live', 'Live'));
socket.on('disconnect', () => setLive('lost', 'Connection lost, reconnecting…'));
socket.on('connect_error', () => setLive('lost', 'Coordinator unreachable, retrying…'));

/** Each feed event updates the state, then the page redraws. */
function on<T>(event: string, apply: (payload: T) => void): void {
  socket.on(event, (payload: T) => {
    apply(payload);
    redraw();
  });
}
on<DashboardSnapshot>(DASHBOARD_EVENTS.snapshot, (s) => state.snapshot(s));
on<DashboardPhaseEvent>(DASHBOARD_EVENTS.phase, (e) => state.phase(e));
on<DashboardOpenRound>(DASHBOARD_EVENTS.roundStarted, (o) => state.openRound(o));
on<DashboardOpenRound>(DASHBOARD_EVENTS.openRound, (o) => state.openRound(o));
on<DashboardRound>(DASHBOARD_EVENTS.round, (r) => state.round(r));
on<DashboardClient[]>(DASHBOARD_EVENTS.clients, (c) => state.clients(c));
on<DashboardRunEnded>(DASHBOARD_EVENTS.runEnded, (e) => state.runEnded(e));

setInterval(() => refreshAges(state), AGE_REFRESH_MS);
