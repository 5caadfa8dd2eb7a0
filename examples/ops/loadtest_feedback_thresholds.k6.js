// Gate 3 load test for POST /api/v1/aiops/feedback.
//
// Every number comes from the environment (pytest-release passes the [load] settings), so the
// thresholds live in release.toml, not in this file:
//   BASE_URL, FEEDBACK_PATH, TOKEN, VUS, DURATION, THINK_TIME_MS,
//   MAX_ERROR_RATE, P95_MS, MIN_SUCCESS_RATE, SUMMARY_PATH
// Run by hand:
//   BASE_URL=http://127.0.0.1:8080 TOKEN=$API_TOKEN k6 run examples/ops/loadtest_feedback_thresholds.k6.js
import http from 'k6/http';
import { check, sleep } from 'k6';

const env = (name, fallback) => (__ENV[name] !== undefined && __ENV[name] !== '' ? __ENV[name] : fallback);

const BASE_URL = env('BASE_URL', 'http://localhost:8080');
const FEEDBACK_PATH = env('FEEDBACK_PATH', '/api/v1/aiops/feedback');
const TOKEN = env('TOKEN', '');
const THINK_TIME_S = Number(env('THINK_TIME_MS', '100')) / 1000;
const MAX_ERROR_RATE = Number(env('MAX_ERROR_RATE', '0.005'));
const P95_MS = Number(env('P95_MS', '120'));
const MIN_SUCCESS_RATE = Number(env('MIN_SUCCESS_RATE', '0.995'));
const SUMMARY_PATH = env('SUMMARY_PATH', 'k6-summary.json');

export const options = {
  vus: Number(env('VUS', '25')),
  duration: env('DURATION', '30s'),
  thresholds: {
    http_req_failed: [`rate<${MAX_ERROR_RATE}`],
    // Latency of answered requests only: refused connections take ~0 ms and would flatter it.
    'http_req_duration{expected_response:true}': [`p(95)<${P95_MS}`],
    checks: [`rate>${MIN_SUCCESS_RATE}`],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(50)', 'p(75)', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'count'],
  // Never let a slow target hold a VU forever.
  discardResponseBodies: true,
};

const SEVERITIES = ['low', 'medium', 'high'];

export default function () {
  const payload = JSON.stringify({
    metric: `load-${__VU}`,
    anomaly: __ITER % 2 === 0,
    verdict: __ITER % 3 === 0,
    source: 'synthetic',
    type: 'bug',
    severity: SEVERITIES[__ITER % SEVERITIES.length],
    note: 'k6 release gate',
  });
  const headers = { 'Content-Type': 'application/json' };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const res = http.post(`${BASE_URL}${FEEDBACK_PATH}`, payload, { headers, timeout: '10s' });
  check(res, { 'status is 201': (r) => r.status === 201 });
  if (THINK_TIME_S > 0) sleep(THINK_TIME_S);
}

// handleSummary gets threshold results the right way round (`ok: true` = passed), unlike
// --summary-export, where `true` means the threshold was crossed.
export function handleSummary(data) {
  return { [SUMMARY_PATH]: JSON.stringify(data) };
}
