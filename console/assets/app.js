// vnrpc console: one WebSocket to the process; a snapshot, then frames of
// changes at the process's frame rate. Rendering happens at most once per
// animation frame and touches only the rows that changed.
'use strict';

const L = {
  en: {
    language: 'Language', mode_server: 'server', mode_client: 'client', mode_engine: 'engine',
    rpc_service: 'RPC service', rep_address: 'Call address', pub_address: 'Event address',
    socket_path: 'Unix socket', server_key_file: 'Server key file', authorized_keys_file: 'Authorized keys file',
    insecure: 'Allow plaintext off loopback', start: 'Start', stop: 'Stop', running: 'Running', stopped: 'Stopped',
    clients: 'Connected clients', service_log: 'Service log', gateways: 'Gateways', connect: 'Connect',
    trade: 'Trade', subscribe_symbol: 'Subscribe to', subscribe: 'Subscribe', symbol: 'Symbol', exchange: 'Exchange',
    direction: 'Direction', offset: 'Offset', type: 'Type', price: 'Price', volume: 'Volume', send_order: 'Send order',
    ticks: 'Ticks', orders: 'Orders', trades: 'Trades', positions: 'Positions', accounts: 'Accounts', logs: 'Logs',
    cancel: 'Cancel', vt_symbol: 'Symbol', name: 'Name', last_price: 'Last', bid_price_1: 'Bid', bid_volume_1: 'Bid vol',
    ask_price_1: 'Ask', ask_volume_1: 'Ask vol', open_price: 'Open', high_price: 'High', low_price: 'Low',
    limit_up: 'Limit up', limit_down: 'Limit down', time: 'Time', gateway_name: 'Gateway', vt_orderid: 'Order',
    traded: 'Traded', status: 'Status', reference: 'Reference', reason: 'Reason', vt_tradeid: 'Trade',
    yd_volume: 'Yesterday', frozen: 'Frozen', pnl: 'PnL', vt_accountid: 'Account', balance: 'Balance',
    available: 'Available', id: 'Client', pid: 'PID', transport: 'Transport', since: 'Connected since', calls: 'Calls',
    errors: 'Errors', lag: 'Lag', laps: 'Laps', lost: 'Lost', msg: 'Message', source: 'Source', action: '',
    idle: 'not connected', connecting: 'connecting', connected: 'connected', disconnected: 'disconnected',
    resyncing: 'resyncing', resynced: 'connected',
    address: 'Server address', client_key_file: 'Client key file', timeout: 'Call timeout (s)',
    wait: 'Event wait', poll_microseconds: 'Call polling (µs)', user_id: 'User', password: 'Password', seed: 'Seed',
    tick_rate: 'Ticks/s per symbol', capital: 'Capital', contracts_file: 'Contracts file',
    console_lost: 'The connection to the console is lost. Reconnecting…',
    server_lost: 'Disconnected from the server', reconnecting: 'reconnecting…',
    not_connected: 'not connected to the console', order_sent: 'Order sent', order_rejected: 'Order rejected',
    need_symbol: 'Enter a symbol', unknown_contract: 'No such contract', bad_volume: 'Volume must be a positive multiple of',
    bad_price: 'Price must be positive', price_tick: 'Price must be a multiple of the tick', none: 'none',
  },
  zh: {
    language: '语言', mode_server: '服务端', mode_client: '客户端', mode_engine: '引擎',
    rpc_service: 'RPC服务', rep_address: '请求响应地址', pub_address: '事件广播地址',
    socket_path: '本地套接字', server_key_file: '服务器密钥文件', authorized_keys_file: '授权客户端文件',
    insecure: '允许非本机明文连接', start: '启动', stop: '停止', running: '运行中', stopped: '已停止',
    clients: '已连接客户端', service_log: '服务日志', gateways: '接口', connect: '连接',
    trade: '交易', subscribe_symbol: '订阅', subscribe: '订阅', symbol: '代码', exchange: '交易所',
    direction: '方向', offset: '开平', type: '类型', price: '价格', volume: '数量', send_order: '委托',
    ticks: '行情', orders: '委托', trades: '成交', positions: '持仓', accounts: '资金', logs: '日志',
    cancel: '撤单', vt_symbol: '代码', name: '名称', last_price: '最新价', bid_price_1: '买一价', bid_volume_1: '买一量',
    ask_price_1: '卖一价', ask_volume_1: '卖一量', open_price: '开盘价', high_price: '最高价', low_price: '最低价',
    limit_up: '涨停价', limit_down: '跌停价', time: '时间', gateway_name: '接口', vt_orderid: '委托号',
    traded: '已成交', status: '状态', reference: '来源', reason: '原因', vt_tradeid: '成交号',
    yd_volume: '昨仓', frozen: '冻结', pnl: '盈亏', vt_accountid: '账号', balance: '余额',
    available: '可用', id: '客户端', pid: '进程号', transport: '传输', since: '连接时间', calls: '调用',
    errors: '错误', lag: '延迟', laps: '被套圈', lost: '丢失', msg: '信息', source: '来源', action: '',
    idle: '未连接', connecting: '连接中', connected: '已连接', disconnected: '已断开',
    resyncing: '同步中', resynced: '已连接',
    address: '服务器地址', client_key_file: '客户端密钥文件', timeout: '调用超时(秒)',
    wait: '事件等待', poll_microseconds: '调用轮询(微秒)', user_id: '用户名', password: '密码', seed: '随机种子',
    tick_rate: '每秒行情数', capital: '资金', contracts_file: '合约文件',
    console_lost: '与控制台的连接已断开，正在重连…',
    server_lost: '与服务器的连接已断开', reconnecting: '正在重连…',
    not_connected: '未连接控制台', order_sent: '委托已发送', order_rejected: '委托被拒',
    need_symbol: '请输入代码', unknown_contract: '没有该合约', bad_volume: '数量须为正且是以下数值的整数倍',
    bad_price: '价格须为正', price_tick: '价格须为最小变动价位的整数倍', none: '无',
  },
};

// Table columns: key, and how to show it (num, time, enum kind).
const TABLES = {
  ticks: { key: 'vt_symbol', cols: [['vt_symbol'], ['name'], ['last_price', 'num'], ['bid_price_1', 'num'],
    ['bid_volume_1', 'num'], ['ask_price_1', 'num'], ['ask_volume_1', 'num'], ['volume', 'num'], ['open_price', 'num'],
    ['high_price', 'num'], ['low_price', 'num'], ['limit_up', 'num'], ['limit_down', 'num'], ['time', 'time'], ['gateway_name']] },
  orders: { key: 'vt_orderid', newestFirst: true, max: 1000, cols: [['vt_orderid'], ['vt_symbol'], ['type', 'enum:type'],
    ['direction', 'enum:direction'], ['offset', 'enum:offset'], ['price', 'num'], ['volume', 'num'], ['traded', 'num'],
    ['status', 'enum:status'], ['time', 'time'], ['reference'], ['reason'], ['gateway_name'], ['action', 'cancel']] },
  trades: { key: 'vt_tradeid', newestFirst: true, max: 1000, cols: [['vt_tradeid'], ['vt_orderid'], ['vt_symbol'],
    ['direction', 'enum:direction'], ['offset', 'enum:offset'], ['price', 'num'], ['volume', 'num'], ['time', 'time'], ['gateway_name']] },
  positions: { key: 'vt_positionid', cols: [['vt_symbol'], ['direction', 'enum:direction'], ['volume', 'num'],
    ['yd_volume', 'num'], ['frozen', 'num'], ['price', 'num'], ['pnl', 'num'], ['gateway_name']] },
  accounts: { key: 'vt_accountid', cols: [['vt_accountid'], ['balance', 'num'], ['frozen', 'num'], ['available', 'num'], ['gateway_name']] },
  logs: { key: 'seq', newestFirst: true, max: 500, cols: [['time', 'time'], ['msg'], ['source']] },
};

const $ = (s) => document.querySelector(s);
const state = { lang: localStorage.getItem('vnrpc.lang') || '', enums: {}, mode: '', status: null,
  contracts: new Map(), rpclog: [], sent: new Set(), notified: new Set(), everConnected: {} };
for (const [name, def] of Object.entries(TABLES)) { def.name = name; def.data = new Map(); def.rows = new Map(); def.changed = new Set(); }

function t(k) { return (L[state.lang] || L.en)[k] ?? L.en[k] ?? k; }
function enumName(kind, code) {
  const m = (state.enums[kind] || []).find((e) => e.code === code);
  return m ? (m[state.lang] || m.en || code) : (code || '');
}
function fmtNum(v) {
  if (v === null || v === undefined || v === '') return '';
  if (Number.isInteger(v)) return String(v);
  return String(parseFloat(Number(v).toFixed(6)));
}
function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(ms); const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
function notice(text, error) {
  const n = document.createElement('div');
  n.className = 'notice' + (error ? ' error' : ''); n.textContent = text;
  $('#notices').prepend(n);
  setTimeout(() => n.remove(), error ? 8000 : 4000);
  while ($('#notices').children.length > 5) $('#notices').lastChild.remove();
}

// ---- the connection to the process ----
let ws = null; let backoff = 300; let nextId = 1; const pending = new Map();

function wsURL() {
  const tok = new URLSearchParams(location.search).get('token');
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws' + (tok ? '?token=' + encodeURIComponent(tok) : '');
}

function open() {
  ws = new WebSocket(wsURL());
  ws.onopen = () => { backoff = 300; };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.t === 'hello') onHello(m);
    else if (m.t === 'frame') applyFrame(m);
    else if (m.t === 'reply') {
      const p = pending.get(m.id); pending.delete(m.id);
      if (p) { if (m.ok) p.resolve(m.result); else p.reject(new Error(m.error)); }
    }
  };
  ws.onclose = () => {
    const b = $('#banner'); b.textContent = t('console_lost'); b.classList.remove('hidden');
    document.body.dataset.console = 'lost';
    for (const p of pending.values()) p.reject(new Error(t('not_connected')));
    pending.clear();
    setTimeout(open, backoff); backoff = Math.min(backoff * 2, 5000);
  };
}

function call(op, args) {
  return new Promise((resolve, reject) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) { reject(new Error(t('not_connected'))); return; }
    const id = nextId++; pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, op, args }));
  });
}

function onHello(m) {
  $('#banner').classList.add('hidden');
  document.body.dataset.console = 'up';
  if (!state.lang) state.lang = m.lang || 'en';
  state.enums = m.enums; state.mode = m.mode;
  document.body.dataset.mode = m.mode;
  $('#title').textContent = m.title; document.title = m.title + ' console';
  $('#service-panel').classList.toggle('hidden', m.mode !== 'server');
  for (const def of Object.values(TABLES)) { def.data.clear(); def.rows.clear(); def.changed.clear(); $(`#t-${def.name} tbody`).replaceChildren(); }
  state.contracts.clear(); state.rpclog = []; $('#gateways').replaceChildren(); state.status = null;
  fillSelects(); applyLang();
  applyFrame(m.snapshot);
}

// ---- applying updates ----
let raf = 0;
function schedule() { if (!raf) raf = requestAnimationFrame(render); }

function applyFrame(f) {
  for (const [name, def] of Object.entries(TABLES)) {
    for (const row of f[name] || []) {
      const k = String(row[def.key]); def.data.set(k, row); def.changed.add(k);
    }
  }
  for (const o of f.orders || []) {
    if (o.status === 'REJECTED' && state.sent.has(o.vt_orderid) && !state.notified.has(o.vt_orderid)) {
      state.notified.add(o.vt_orderid);
      notice(`${t('order_rejected')} ${o.vt_orderid}: ${o.reason || ''}`, true);
    }
  }
  if (f.contracts && f.contracts.length) {
    for (const c of f.contracts) state.contracts.set(c.vt_symbol, c);
    fillSymbols();
  }
  for (const l of f.logs || []) if (l.kind === 'rpc') state.rpclog.push(l);
  if (state.rpclog.length > 300) state.rpclog.splice(0, state.rpclog.length - 300);
  if (f.status) state.status = f.status;
  if (f.status || (f.logs && f.logs.length)) state.statusDirty = true;
  schedule();
}

function render() {
  raf = 0;
  for (const def of Object.values(TABLES)) renderTable(def);
  if (state.statusDirty) { state.statusDirty = false; renderStatus(); }
}

function cell(def, col, row) {
  const [key, kind] = col; const v = row[key];
  if (kind === 'num') return [fmtNum(v), null];
  if (kind === 'time') return [fmtTime(v), null];
  if (kind && kind.startsWith('enum:')) return [enumName(kind.slice(5), v), v];
  return [v === undefined || v === null ? '' : String(v), null];
}

function renderTable(def) {
  if (!def.changed.size) return;
  const tb = $(`#t-${def.name} tbody`);
  for (const k of def.changed) {
    const row = def.data.get(k); let tr = def.rows.get(k);
    if (!tr) {
      tr = document.createElement('tr'); tr.dataset.key = k;
      for (const col of def.cols) { const td = document.createElement('td'); td.dataset.col = col[0]; if (col[1] === 'num') td.className = 'num'; tr.append(td); }
      def.rows.set(k, tr);
      if (def.newestFirst) tb.prepend(tr); else tb.append(tr);
      if (def.name === 'ticks') tr.addEventListener('click', () => pickTick(def.data.get(k)));
    }
    def.cols.forEach((col, i) => {
      const td = tr.children[i];
      if (col[1] === 'cancel') { renderCancel(td, row); return; }
      const [text, code] = cell(def, col, row);
      if (td.textContent !== text) td.textContent = text;
      if (code !== null && td.dataset.code !== code) td.dataset.code = code;
    });
    if (def.name === 'orders') tr.dataset.active = row.active ? 'true' : 'false';
  }
  def.changed.clear();
  if (def.max) {
    while (def.rows.size > def.max) {
      const old = def.newestFirst ? tb.lastElementChild : tb.firstElementChild;
      def.rows.delete(old.dataset.key); def.data.delete(old.dataset.key); old.remove();
    }
  }
}

function renderCancel(td, o) {
  const btn = td.querySelector('button');
  if (o.active && !btn) {
    const b = document.createElement('button'); b.className = 'small cancel'; b.type = 'button'; b.textContent = t('cancel');
    b.addEventListener('click', () => {
      b.disabled = true;
      call('order.cancel', { vt_orderid: o.vt_orderid }).catch((e) => { b.disabled = false; notice(e.message, true); });
    });
    td.replaceChildren(b);
  } else if (!o.active && btn) td.replaceChildren();
}

function renderStatus() {
  const st = state.status || { gateways: [] };
  if (st.service) renderService(st.service);
  renderGateways(st.gateways || []);
  if (state.mode === 'server') {
    $('#rpclog').textContent = state.rpclog.map((l) => `${fmtTime(l.time)}\t${l.msg}`).join('\n');
    $('#rpclog').scrollTop = $('#rpclog').scrollHeight;
  }
}

let svcFilled = null; // the running state the form was last filled for
function renderService(s) {
  const el = $('#svc-state'); el.dataset.running = String(s.running); el.textContent = t(s.running ? 'running' : 'stopped');
  $('#svc-start').disabled = s.running; $('#svc-stop').disabled = !s.running;
  for (const inp of $('#svc-form').elements) inp.disabled = s.running;
  $('#svc-addrs').textContent = s.running ? [s.socket, s.calls, s.events].filter(Boolean).join('  ·  ') : '';
  if (svcFilled !== s.running) {
    svcFilled = s.running;
    $('#svc-rep').value = s.setting.rep_address || ''; $('#svc-pub').value = s.setting.pub_address || '';
    $('#svc-socket').value = s.setting.socket_path || ''; $('#svc-key').value = s.setting.server_key_file || '';
    $('#svc-auth').value = s.setting.authorized_keys_file || ''; $('#svc-insecure').checked = !!s.setting.insecure;
  }
  const cols = ['id', 'pid', 'transport', 'since', 'calls', 'errors', 'lag', 'laps', 'lost'];
  $('#t-clients thead').replaceChildren(headRow(cols));
  $('#t-clients tbody').replaceChildren(...s.clients.map((c) => {
    const tr = document.createElement('tr'); tr.dataset.key = c.id;
    for (const k of cols) { const td = document.createElement('td'); td.dataset.col = k; td.textContent = k === 'since' ? fmtTime(c[k]) : String(c[k]); tr.append(td); }
    return tr;
  }));
}

function headRow(keys) {
  const tr = document.createElement('tr');
  for (const k of keys) { const th = document.createElement('th'); th.textContent = t(k); tr.append(th); }
  return tr;
}

const CHOICES = { transport: ['auto', 'local', 'tcp'], wait: ['block', 'spin'] };
function renderGateways(gws) {
  let rpc = null;
  for (const g of gws) {
    let box = document.getElementById('gw-' + g.name);
    if (!box) box = gatewayForm(g);
    const st = box.querySelector('.state');
    const label = t(g.state) + (g.transport && g.state !== 'disconnected' ? ' · ' + g.transport : '');
    st.textContent = label; st.className = 'badge state state-' + g.state; st.dataset.state = g.state;
    st.dataset.transport = g.transport || '';
    box.querySelector('.connect').disabled = g.state !== 'idle';
    box.querySelector('.lag').textContent = g.kind === 'rpc' && g.state !== 'idle' ? `${t('lag')} ${g.lag} · ${t('laps')} ${g.laps} · ${t('lost')} ${g.lost}` : '';
    if (g.kind === 'rpc' && !rpc) rpc = g;
  }
  const head = $('#conn-state'); const sb = $('#server-banner');
  if (rpc) {
    head.textContent = `${rpc.name}: ${t(rpc.state)}${rpc.transport && rpc.state !== 'disconnected' ? ' · ' + rpc.transport : ''}`;
    head.className = 'badge state-' + rpc.state; head.dataset.state = rpc.state; head.dataset.transport = rpc.transport || '';
    if (rpc.state === 'connected' || rpc.state === 'resynced') state.everConnected[rpc.name] = true;
    const lost = rpc.state === 'disconnected' || (rpc.state === 'connecting' && state.everConnected[rpc.name]);
    sb.textContent = lost ? `${t('server_lost')}${rpc.reason ? ': ' + rpc.reason : ''}. ${t('reconnecting')}` : '';
    sb.classList.toggle('hidden', !lost);
  } else { head.classList.add('hidden'); sb.classList.add('hidden'); }
}

function gatewayForm(g) {
  const box = document.createElement('div'); box.className = 'gw'; box.id = 'gw-' + g.name; box.dataset.kind = g.kind;
  const h = document.createElement('h3'); h.textContent = g.name;
  const st = document.createElement('span'); st.className = 'badge state'; h.append(st);
  const form = document.createElement('form'); form.className = 'grid'; form.autocomplete = 'off';
  for (const [k, v] of Object.entries(g.setting)) {
    const lab = document.createElement('label'); const span = document.createElement('span');
    span.dataset.i18n = k; span.textContent = t(k); lab.append(span);
    let inp;
    if (CHOICES[k]) {
      inp = document.createElement('select');
      for (const c of CHOICES[k]) { const o = document.createElement('option'); o.value = c; o.textContent = c; inp.append(o); }
      inp.value = v;
    } else if (typeof v === 'boolean') {
      inp = document.createElement('input'); inp.type = 'checkbox'; inp.checked = v; lab.className = 'check';
    } else {
      inp = document.createElement('input');
      inp.type = typeof v === 'number' ? 'number' : (/password/i.test(k) ? 'password' : 'text');
      if (typeof v === 'number') inp.step = 'any';
      inp.value = v;
    }
    inp.name = k; inp.id = `gw-${g.name}-${k}`; inp.dataset.kind = typeof v;
    lab.append(inp); form.append(lab);
  }
  const btn = document.createElement('button'); btn.type = 'submit'; btn.className = 'connect'; btn.id = `gw-${g.name}-connect`;
  btn.dataset.i18n = 'connect'; btn.textContent = t('connect'); form.append(btn);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const setting = {};
    for (const inp of form.querySelectorAll('input,select')) {
      setting[inp.name] = inp.type === 'checkbox' ? inp.checked : inp.dataset.kind === 'number' ? Number(inp.value) : inp.value;
    }
    btn.disabled = true;
    call('gateway.connect', { gateway: g.name, setting }).catch((err) => { btn.disabled = false; notice(err.message, true); });
  });
  const lag = document.createElement('div'); lag.className = 'lag muted';
  box.append(h, form, lag);
  // The client page puts its connect dialog first.
  if (g.kind === 'rpc') $('#gateways').prepend(box); else $('#gateways').append(box);
  return box;
}

// ---- the order panel ----
function fillSelects() {
  const fill = (sel, kind, skipEmpty) => {
    const el = $(sel); const keep = el.value; el.replaceChildren();
    for (const e of state.enums[kind] || []) {
      if (skipEmpty && !e.code) continue;
      const o = document.createElement('option'); o.value = e.code; o.textContent = e[state.lang] || e.code; el.append(o);
    }
    if (keep) el.value = keep;
  };
  fill('#op-exchange', 'exchange', true); fill('#op-direction', 'direction', true);
  fill('#op-offset', 'offset', false); fill('#op-type', 'type', true);
  const dir = $('#op-direction'); if (![...dir.options].some((o) => o.value === dir.value && dir.value !== 'NET')) dir.value = 'LONG';
}

function fillSymbols() {
  const vts = [...state.contracts.keys()].sort();
  $('#symbols').replaceChildren(...vts.map((v) => Object.assign(document.createElement('option'), { value: v })));
  $('#symbol-codes').replaceChildren(...vts.map((v) => Object.assign(document.createElement('option'), { value: state.contracts.get(v).symbol })));
}

function pickTick(tk) {
  if (!tk) return;
  $('#op-symbol').value = tk.symbol; $('#op-exchange').value = tk.exchange; $('#op-price').value = tk.last_price;
  fitOffset(contractOf(tk.symbol, tk.exchange));
}

// fitOffset picks the offset a contract trades with by default: none for
// stocks, open for the rest.
function fitOffset(c) {
  if (!c) return;
  const el = $('#op-offset'); const stock = c.product === 'EQUITY';
  if (stock && el.value !== 'NONE') el.value = 'NONE';
  if (!stock && el.value === 'NONE') el.value = 'OPEN';
}

function contractOf(symbol, exchange) { return state.contracts.get(`${symbol}.${exchange}`); }

function multipleOf(v, step) { const n = v / step; return Math.abs(n - Math.round(n)) < 1e-6; }

// validate returns the order arguments or throws a message for the user.
function validate() {
  let symbol = $('#op-symbol').value.trim(); let exchange = $('#op-exchange').value;
  const dot = symbol.lastIndexOf('.');
  if (dot > 0 && state.contracts.has(symbol)) { exchange = symbol.slice(dot + 1); symbol = symbol.slice(0, dot); }
  if (!symbol) throw new Error(t('need_symbol'));
  const c = contractOf(symbol, exchange);
  if (!c) throw new Error(`${t('unknown_contract')}: ${symbol}.${exchange}`);
  const type = $('#op-type').value; const price = Number($('#op-price').value); const volume = Number($('#op-volume').value);
  const step = c.min_volume || 1;
  if (!(volume > 0) || !multipleOf(volume, step)) throw new Error(`${t('bad_volume')} ${step}`);
  if (type !== 'MARKET') {
    if (!(price > 0)) throw new Error(t('bad_price'));
    if (c.pricetick > 0 && !multipleOf(price, c.pricetick)) throw new Error(`${t('price_tick')} (${c.pricetick})`);
  }
  return { symbol, exchange, direction: $('#op-direction').value, offset: $('#op-offset').value, type, price: type === 'MARKET' ? 0 : price, volume };
}

function sendOrder(e) {
  e.preventDefault();
  const err = $('#op-error'); err.textContent = '';
  let args;
  try { args = validate(); } catch (x) { err.textContent = x.message; return; }
  call('order.send', args).then((r) => {
    state.sent.add(r.vt_orderid);
    notice(`${t('order_sent')}: ${r.vt_orderid}`);
    const o = TABLES.orders.data.get(r.vt_orderid); // a rejection may have arrived first
    if (o && o.status === 'REJECTED' && !state.notified.has(r.vt_orderid)) {
      state.notified.add(r.vt_orderid); notice(`${t('order_rejected')} ${r.vt_orderid}: ${o.reason || ''}`, true);
    }
  }).catch((x) => { err.textContent = x.message; });
}

// ---- language ----
function applyLang() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  $('#lang').value = state.lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  $('#mode').textContent = state.mode ? t('mode_' + state.mode) : '';
  for (const def of Object.values(TABLES)) {
    $(`#t-${def.name} thead`).replaceChildren(headRow(def.cols.map((c) => c[0])));
    for (const k of def.data.keys()) def.changed.add(k);
    for (const tr of def.rows.values()) { const b = tr.querySelector('button.cancel'); if (b) b.textContent = t('cancel'); }
  }
  fillSelects();
  state.statusDirty = true; schedule();
}

document.addEventListener('DOMContentLoaded', () => {
  $('#lang').addEventListener('change', (e) => { state.lang = e.target.value; localStorage.setItem('vnrpc.lang', state.lang); applyLang(); });
  $('#svc-start').addEventListener('click', () => {
    const args = { rep_address: $('#svc-rep').value, pub_address: $('#svc-pub').value, socket_path: $('#svc-socket').value,
      server_key_file: $('#svc-key').value, authorized_keys_file: $('#svc-auth').value, insecure: $('#svc-insecure').checked };
    $('#svc-start').disabled = true;
    call('service.start', args).catch((e) => { notice(e.message, true); state.statusDirty = true; schedule(); });
  });
  $('#svc-stop').addEventListener('click', () => {
    $('#svc-stop').disabled = true;
    call('service.stop', {}).catch((e) => { notice(e.message, true); state.statusDirty = true; schedule(); });
  });
  $('#sub-btn').addEventListener('click', () => {
    call('subscribe', { vt_symbol: $('#sub-symbol').value.trim() }).catch((e) => notice(e.message, true));
  });
  $('#sub-symbol').addEventListener('keydown', (e) => { if (e.key === 'Enter') $('#sub-btn').click(); });
  $('#order-form').addEventListener('submit', sendOrder);
  $('#op-symbol').addEventListener('change', () => {
    const v = $('#op-symbol').value.trim();
    const c = state.contracts.get(v) || [...state.contracts.values()].find((x) => x.symbol === v);
    if (c) { $('#op-symbol').value = c.symbol; $('#op-exchange').value = c.exchange; fitOffset(c); }
  });
  open();
});
