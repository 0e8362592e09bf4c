// chat.js — a small client for bridge's native thread API (WS /chat), usable from a browser page
// (index.html beside it) or from Node (pass a WebSocket class, e.g. the `ws` package's).
//
//   const chat = new BridgeChat('ws://127.0.0.1:8080/chat', { token: 'sk-…' });
//   await chat.open();
//   const turn = chat.send({ project: 'demo', content: 'Hello' });   // a new thread
//   turn.on('content', e => print(e.content));
//   const end = await turn.done;                                    // {type:'end',…} or throws
//   chat.send({ project: 'demo', threadId: turn.threadId, content: 'And then?' });
//
// A socket can run several turns at once. Every message carries a request_id of ours, which
// bridge echoes in every event about it: that routes each event to its turn, also before a new
// thread's id is known.

export class BridgeChat {
  constructor(url, { token = null, WebSocket: WS = globalThis.WebSocket } = {}) {
    if (!WS) throw new Error('no WebSocket implementation: pass { WebSocket }');
    this.url = token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url;
    this.WS = WS;
    this.turns = new Map(); // request_id → Turn
    this.seq = 0;
    this.listeners = { close: [], error: [], event: [] };
  }

  /** Connect; resolves once the socket is open. */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new this.WS(this.url);
      this.ws = ws;
      ws.onopen = () => resolve(this);
      ws.onerror = err => { reject(new Error(`cannot connect to ${this.url}: ${err?.message ?? 'error'}`)); };
      ws.onclose = ev => {
        for (const t of this.turns.values()) t._fail({ type: 'error', message: `connection closed (${ev.code})`, code: 'closed' });
        this.turns.clear();
        this._emit('close', ev);
      };
      ws.onmessage = ev => this._dispatch(typeof ev.data === 'string' ? ev.data : String(ev.data));
    });
  }

  on(what, fn) { this.listeners[what].push(fn); return this; }
  _emit(what, x) { for (const fn of this.listeners[what]) fn(x); }

  /** Send a message; returns its Turn. threadId null/undefined starts a new thread. */
  send({ project, content, threadId = null, model, history }) {
    const requestId = `r${++this.seq}`;
    const msg = { type: 'message', request_id: requestId, project, thread_id: threadId, role: 'user', content };
    if (model) msg.model = model;
    if (history) msg.history = history;
    const turn = new Turn(this, threadId);
    this.turns.set(requestId, turn);
    this.ws.send(JSON.stringify(msg));
    return turn;
  }

  /** Ask bridge to stop the agent running in a thread (TENEX kind 24134). */
  stop(threadId) { this.ws.send(JSON.stringify({ type: 'stop', thread_id: threadId })); }

  close() { this.ws.close(1000); }

  _dispatch(text) {
    let ev;
    try { ev = JSON.parse(text); } catch { return; }
    this._emit('event', ev);
    if (ev.type === 'pong' || ev.type === 'stopped') return;
    const turn = ev.request_id !== undefined ? this.turns.get(ev.request_id) : null;
    if (!turn) { this._emit('error', ev); return; }
    if (ev.thread_id) turn.threadId = ev.thread_id;
    turn._event(ev);
    if (ev.type === 'end' || ev.type === 'error') this.turns.delete(ev.request_id);
  }
}

/** One turn: its events, its text so far, and a promise for its end. */
export class Turn {
  constructor(chat, threadId) {
    this.chat = chat;
    this.threadId = threadId;
    this.text = '';
    this.events = [];
    this.handlers = {};
    this.done = new Promise((resolve, reject) => { this._resolve = resolve; this._reject = reject; });
    this.done.catch(() => {}); // a caller that never awaits must not crash the page
  }
  on(type, fn) { (this.handlers[type] ??= []).push(fn); return this; }
  stop() { if (this.threadId) this.chat.stop(this.threadId); }
  _event(ev) {
    this.events.push(ev);
    if (ev.type === 'content') this.text += ev.content;
    for (const fn of [...(this.handlers[ev.type] ?? []), ...(this.handlers['*'] ?? [])]) fn(ev);
    if (ev.type === 'end') this._resolve(ev);
    if (ev.type === 'error') this._fail(ev);
  }
  _fail(ev) {
    const err = new Error(ev.message);
    err.code = ev.code;
    this._reject(err);
  }
}
