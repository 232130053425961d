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
socket.on(DASHBOARD_EVENTS.snapshot, (s: DashboardSnapshot) => {
  state.snapshot(s);
  redraw();
});
socket.on(DASHBOARD_EVENTS.phase, (e: DashboardPhaseEvent) => {
  state.phase(e);
  redraw();
});
socket.on(DASHBOARD_EVENTS.roundStarted, (o: DashboardOpenRound) => {
  state.openRound(o);
  redraw();
});
socket.on(DASHBOARD_EVENTS.openRound, (o: DashboardOpenRound) => {
  state.openRound(o);
  redraw();
});
socket.on(DASHBOARD_EVENTS.round, (r: DashboardRound) => {
  state.round(r);
  redraw();
});
socket.on(DASHBOARD_EVENTS.clients, (c: DashboardClient[]) => {
  state.clients(c);
  redraw();
});
socket.on(DASHBOARD_EVENTS.runEnded, (e: DashboardRunEnded) => {
  state.runEnded(e);
  redraw();
});
setInterval(() => refreshAges(state), AGE_REFRESH_MS);
