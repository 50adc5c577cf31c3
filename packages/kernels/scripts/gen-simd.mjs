#!/usr/bin/env node
// The source of genlab's SIMD element-wise kernels for the wasm backend, in WebAssembly text,
// and the generator of `src/simd-wasm.ts` (the compiled module, base64, committed so that no
// install or build step needs a WebAssembly toolchain). Run after editing:
//
//   node packages/kernels/scripts/gen-simd.mjs
//
// A unit test compiles this text again and fails when the committed binary is stale.
//
// Why hand-written WebAssembly: the kernels must run on the tfjs wasm backend's own heap (no
// copies), so they have to be a wasm module importing that heap's memory; no library ships
// such kernels, and the machine has no C-to-wasm compiler. They are small: one 4-lane loop
// per kernel plus a one-lane tail. The text is generated from templates below so that each
// kernel's loop has its maths inlined (no call per 4 elements).
//
// The module is built twice: importing an ordinary memory (the stock single-threaded build)
// and a shared one (the threaded build's SharedArrayBuffer heap).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const splat = (v) => `(v128.const f32x4 ${v} ${v} ${v} ${v})`;

/** Horner's scheme: ((c[0]·t + c[1])·t + …) + c[n-1], as a folded WAT expression. */
function horner(t, coefficients) {
  let e = splat(coefficients[0]);
  for (const c of coefficients.slice(1)) e = `(f32x4.add (f32x4.mul ${e} ${t}) ${splat(c)})`;
  return e;
}

/**
 * tanh of the 4 lanes of local $a (result on the stack; uses locals $t, $t2). Eigen's
 * `generic_fast_tanh_float`: a 13/6 rational approximation on [-7.9053, 7.9053] (tanh rounds
 * to ±1 in float32 beyond), x itself below 0.0004; NaN stays NaN. Max error about 2 ulp.
 */
const TANH = `
    (local.set $t (f32x4.min (f32x4.max (local.get $a) ${splat(-7.90531110763549805)}) ${splat(7.90531110763549805)}))
    (local.set $t2 (f32x4.mul (local.get $t) (local.get $t)))
    (v128.bitselect
      (local.get $a)
      (f32x4.div
        (f32x4.mul (local.get $t) ${horner('(local.get $t2)', ['-2.76076847742355e-16', '2.00018790482477e-13', '-8.60467152213735e-11', '5.12229709037114e-08', '1.48572235717979e-05', '6.37261928875436e-04', '4.89352455891786e-03'])})
        ${horner('(local.get $t2)', ['1.19825839466702e-06', '1.18534705686654e-04', '2.26843463243900e-03', '4.89352518554385e-03'])})
      (f32x4.lt (f32x4.abs (local.get $a)) ${splat(0.0004)}))`;

/** Columns per block of transpose2d (8 destination rows in flight: within an 8-way L1 set even at power-of-two strides). */
const TRANSPOSE_BLOCK = 8; // measured best of 4–64 on [1024, 784], [784, 1024], [1024, 1024], [1024, 64]

/** Unrolled by this many vectors in the main loop (independent chains for the CPU to overlap). */
const UNROLL = 4;

/** `text` with its lane locals ($a, $b, $t, $t2, $z) renamed for unrolled copy `u`. */
const lanes = (text, u) => text.replace(/\$(a|b|t2|t|z)\b/g, `$$$1_${u}`);

const locals = (copies) =>
  [...Array(copies).keys()].map((u) => lanes('(local $a v128) (local $b v128) (local $t v128) (local $t2 v128) (local $z v128)', u)).join(' ') + ' (local $end i32) (local $vend i32) (local $uend i32)';

/**
 * An element-wise kernel over n float32s: `params` after the pointers, `inputs` the pointer
 * parameters read (lane values in locals $a, $b), `out` the pointer written, `body` the
 * result from $a (and $b). A loop over UNROLL vectors at a time, one over single vectors,
 * then the last n mod 4 elements one lane at a time.
 */
function elementwise(name, inputs, out, params, body) {
  const ptrs = [...inputs, out];
  const loadAll = (load, u = 0, offset = 0) => inputs.map((p, i) => `(local.set ${lanes(i === 0 ? '$a' : '$b', u)} (${load}${offset ? ` offset=${offset}` : ''} (local.get ${p})))`).join(' ');
  const advance = (bytes) => ptrs.map((p) => `(local.set ${p} (i32.add (local.get ${p}) (i32.const ${bytes})))`).join(' ');
  const unrolled = [...Array(UNROLL).keys()];
  return `
  (func (export "${name}") ${ptrs.map((p) => `(param ${p} i32)`).join(' ')} (param $n i32) ${params} ${locals(UNROLL)}
    (local.set $uend (i32.add (local.get ${ptrs[0]}) (i32.shl (i32.and (local.get $n) (i32.const ${-4 * UNROLL})) (i32.const 2))))
    (local.set $vend (i32.add (local.get ${ptrs[0]}) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (local.set $end (i32.add (local.get ${ptrs[0]}) (i32.shl (local.get $n) (i32.const 2))))
    (block $udone (loop $uloop
      (br_if $udone (i32.ge_u (local.get ${ptrs[0]}) (local.get $uend)))
      ${unrolled.map((u) => loadAll('v128.load', u, 16 * u)).join('\n      ')}
      ${unrolled.map((u) => `(v128.store${u ? ` offset=${16 * u}` : ''} (local.get ${out}) ${lanes(body, u)})`).join('\n      ')}
      ${advance(16 * UNROLL)}
      (br $uloop)))
    (block $vdone (loop $vloop
      (br_if $vdone (i32.ge_u (local.get ${ptrs[0]}) (local.get $vend)))
      ${loadAll('v128.load')}
      (v128.store (local.get ${out}) ${lanes(body, 0)})
      ${advance(16)}
      (br $vloop)))
    (block $done (loop $loop
      (br_if $done (i32.ge_u (local.get ${ptrs[0]}) (local.get $end)))
      ${loadAll('v128.load32_zero')}
      (f32.store (local.get ${out}) (f32x4.extract_lane 0 ${lanes(body, 0)}))
      ${advance(4)}
      (br $loop))))`;
}

/**
 * im2col / col2im over NHWC x and columns [P, FH·FW·CI] (P = N·OH·OW), the same geometry as
 * wasm-conv.ts's: cols[p, (kh·FW + kw)·CI + c] ↔ x[n, oh·sh − top + kh·dh, ow·sw − left + kw·dw, c].
 * `op` moves `$len` floats between cols ($d) and x ($s); with dilation 1 the valid kw of one
 * (p, kh) are one contiguous run on both sides, so one op per run. Out-of-image taps are
 * skipped (im2col's columns start at zero; col2im adds nothing there).
 */
function convColumns(name, op) {
  return `
  (func (export "${name}") (param $x i32) (param $cols i32) (param $N i32) (param $H i32) (param $W i32) (param $CI i32) (param $OH i32) (param $OW i32)
    (param $FH i32) (param $FW i32) (param $sh i32) (param $sw i32) (param $dh i32) (param $dw i32) (param $top i32) (param $left i32)
    (local $n i32) (local $oh i32) (local $ow i32) (local $kh i32) (local $kw i32) (local $kw0 i32) (local $kw1 i32) (local $ih i32) (local $iw0 i32)
    (local $iw i32) (local $row i32) (local $K i32) (local $xrow i32) (local $d i32) (local $s i32) (local $len i32)
    (local.set $K (i32.mul (i32.mul (local.get $FH) (local.get $FW)) (local.get $CI)))
    (local.set $n (i32.const 0))
    (block $ndone (loop $nloop (br_if $ndone (i32.ge_u (local.get $n) (local.get $N)))
      (local.set $oh (i32.const 0))
      (block $ohdone (loop $ohloop (br_if $ohdone (i32.ge_u (local.get $oh) (local.get $OH)))
        (local.set $ow (i32.const 0))
        (block $owdone (loop $owloop (br_if $owdone (i32.ge_u (local.get $ow) (local.get $OW)))
          (local.set $iw0 (i32.sub (i32.mul (local.get $ow) (local.get $sw)) (local.get $left)))
          (local.set $kh (i32.const 0))
          (block $khdone (loop $khloop (br_if $khdone (i32.ge_u (local.get $kh) (local.get $FH)))
            (local.set $ih (i32.add (i32.sub (i32.mul (local.get $oh) (local.get $sh)) (local.get $top)) (i32.mul (local.get $kh) (local.get $dh))))
            ;; unsigned: a negative row compares as huge, so this is 0 <= ih < H
            (if (i32.lt_u (local.get $ih) (local.get $H)) (then
              (local.set $xrow (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $ih)) (local.get $W)))
              (if (i32.eq (local.get $dw) (i32.const 1))
                (then
                  ;; iw = iw0 + kw in [0, W): kw in [max(0, −iw0), min(FW, W − iw0))
                  (local.set $kw0 (select (i32.sub (i32.const 0) (local.get $iw0)) (i32.const 0) (i32.lt_s (local.get $iw0) (i32.const 0))))
                  (local.set $kw1 (i32.sub (local.get $W) (local.get $iw0)))
                  (if (i32.gt_s (local.get $kw1) (local.get $FW)) (then (local.set $kw1 (local.get $FW))))
                  (if (i32.gt_s (local.get $kw1) (local.get $kw0)) (then
                    (local.set $d (i32.add (local.get $cols) (i32.shl (i32.add (local.get $row) (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $FW)) (local.get $kw0)) (local.get $CI))) (i32.const 2))))
                    (local.set $s (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (i32.add (local.get $xrow) (local.get $iw0)) (local.get $kw0)) (local.get $CI)) (i32.const 2))))
                    (local.set $len (i32.mul (i32.sub (local.get $kw1) (local.get $kw0)) (local.get $CI)))
                    ${op})))
                (else
                  (local.set $kw (i32.const 0))
                  (block $kwdone (loop $kwloop (br_if $kwdone (i32.ge_u (local.get $kw) (local.get $FW)))
                    (local.set $iw (i32.add (local.get $iw0) (i32.mul (local.get $kw) (local.get $dw))))
                    (if (i32.lt_u (local.get $iw) (local.get $W)) (then
                      (local.set $d (i32.add (local.get $cols) (i32.shl (i32.add (local.get $row) (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $FW)) (local.get $kw)) (local.get $CI))) (i32.const 2))))
                      (local.set $s (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (local.get $xrow) (local.get $iw)) (local.get $CI)) (i32.const 2))))
                      (local.set $len (local.get $CI))
                      ${op}))
                    (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
                    (br $kwloop)))))))
            (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
            (br $khloop)))
          (local.set $row (i32.add (local.get $row) (local.get $K)))
          (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
          (br $owloop)))
        (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
        (br $ohloop)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nloop))))`;
}

/** col2im's op: x[$s …] += cols[$d …], $len floats, 4 lanes at a time. */
const ADD_RUN = `
    (block $adone (loop $aloop (br_if $adone (i32.lt_u (local.get $len) (i32.const 4)))
      (v128.store (local.get $s) (f32x4.add (v128.load (local.get $s)) (v128.load (local.get $d))))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (local.set $d (i32.add (local.get $d) (i32.const 16)))
      (local.set $len (i32.sub (local.get $len) (i32.const 4)))
      (br $aloop)))
    (block $tdone (loop $tloop (br_if $tdone (i32.eqz (local.get $len)))
      (f32.store (local.get $s) (f32.add (f32.load (local.get $s)) (f32.load (local.get $d))))
      (local.set $s (i32.add (local.get $s) (i32.const 4)))
      (local.set $d (i32.add (local.get $d) (i32.const 4)))
      (local.set $len (i32.sub (local.get $len) (i32.const 1)))
      (br $tloop)))`;

/**
 * y[r·n + c] = a[r·n + c] ∘ b[c] for `rows` rows: a bias (or batch-norm statistic) broadcast
 * over the leading axes, which tfjs's binary kernels do through a general index walk.
 */
function rowsOp(name, op) {
  return `
  (func (export "${name}") (param $a i32) (param $b i32) (param $y i32) (param $rows i32) (param $n i32)
    (local $c i32) (local $q i32) (local $vn i32)
    (local.set $vn (i32.and (local.get $n) (i32.const -4)))
    (block $rdone (loop $row (br_if $rdone (i32.eqz (local.get $rows)))
      (local.set $c (i32.const 0))
      (local.set $q (local.get $b))
      (block $vdone (loop $vloop (br_if $vdone (i32.ge_u (local.get $c) (local.get $vn)))
        (v128.store (local.get $y) (f32x4.${op} (v128.load (local.get $a)) (v128.load (local.get $q))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $vloop)))
      (block $cdone (loop $cloop (br_if $cdone (i32.ge_u (local.get $c) (local.get $n)))
        (f32.store (local.get $y) (f32.${op} (f32.load (local.get $a)) (f32.load (local.get $q))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cloop)))
      (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
      (br $row))))`;
}

/** tanh of the v128 expression `x` (uses locals $ta, $t, $t2). */
const tanhOf = (x) => `(block (result v128) (local.set $ta ${x}) ${TANH.replace(/\$a\b/g, '$ta')})`;
/** σ(x) = ½ + ½·tanh(x/2): within about 1e-7 of the exact function (σ rounds to 0 or 1 beyond |x| ≈ 15.8). */
const sigmoidOf = (x) => `(f32x4.add ${splat(0.5)} (f32x4.mul ${splat(0.5)} ${tanhOf(`(f32x4.mul ${splat(0.5)} ${x})`)}))`;

let streamLabel = 0;
/** `text` with each v128 lane local of `names` renamed for unrolled copy `u` (copy 0 keeps the names). */
const renamed = (text, names, u) => (u ? names.reduce((t, n) => t.replace(new RegExp(`\\${n}\\b`, 'g'), `${n}_${u}`), text) : text);
/** Lane locals of `names` for `copies` unrolled copies. */
const laneLocals = (names, copies) => [...Array(copies).keys()].map((u) => names.map((n) => `(local ${renamed(n, names, u)} v128)`).join(' ')).join(' ');
/** Vectors per iteration of the main loop of `streams` (independent chains for the CPU to overlap). */
const STREAM_UNROLL = 2;

/**
 * A loop over `len` (a local: counted down to 0) float32s of parallel streams: each
 * iteration reads `loads` ([pointer, lane local]) with 4 lanes, runs `pre` (statements on the
 * lane locals), writes `stores` ([pointer, v128 expression]) and advances every pointer;
 * STREAM_UNROLL vectors at a time (the lane locals `lanesUsed` renamed per copy), then single
 * vectors, then the last len mod 4 elements one lane at a time (the other lanes read as zeros
 * and are dropped).
 */
function streams(len, loads, pre, stores, lanesUsed) {
  const k = streamLabel++;
  const ptrs = [...loads.map(([p]) => p), ...stores.map(([p]) => p)];
  const copy = (load, store, u, offset) => renamed(`
      ${loads.map(([p, v]) => `(local.set ${v} (${load}${offset ? ` offset=${offset}` : ''} (local.get ${p})))`).join(' ')}
      ${pre}
      ${stores.map(([p, e]) => store(p, e, offset)).join('\n      ')}`, lanesUsed, u);
  const advance = (bytes) => ptrs.map((p) => `(local.set ${p} (i32.add (local.get ${p}) (i32.const ${bytes})))`).join(' ');
  const vstore = (p, e, offset) => `(v128.store${offset ? ` offset=${offset}` : ''} (local.get ${p}) ${e})`;
  const copies = [...Array(STREAM_UNROLL).keys()];
  return `
    (block $udone${k} (loop $uloop${k} (br_if $udone${k} (i32.lt_u (local.get ${len}) (i32.const ${4 * STREAM_UNROLL})))
      ${copies.map((u) => copy('v128.load', vstore, u, 16 * u)).join('\n')}
      ${advance(16 * STREAM_UNROLL)}
      (local.set ${len} (i32.sub (local.get ${len}) (i32.const ${4 * STREAM_UNROLL})))
      (br $uloop${k})))
    (block $vdone${k} (loop $vloop${k} (br_if $vdone${k} (i32.lt_u (local.get ${len}) (i32.const 4)))
      ${copy('v128.load', vstore, 0, 0)}
      ${advance(16)}
      (local.set ${len} (i32.sub (local.get ${len}) (i32.const 4)))
      (br $vloop${k})))
    (block $tdone${k} (loop $tloop${k} (br_if $tdone${k} (i32.eqz (local.get ${len})))
      ${copy('v128.load32_zero', (p, e) => `(f32.store (local.get ${p}) (f32x4.extract_lane 0 ${e}))`, 0, 0)}
      ${advance(4)}
      (local.set ${len} (i32.sub (local.get ${len}) (i32.const 1)))
      (br $tloop${k})))`;
}

/** `$len = count` (an i32 expression) then the loop. */
const counted = (count, loads, pre, stores, lanesUsed) => `(local.set $len ${count}) ${streams('$len', loads, pre, stores, lanesUsed)}`;
/** Once per position: the body, for `$P` positions. */
const perPosition = (body) => `
    (block $pdone (loop $ploop (br_if $pdone (i32.eqz (local.get $P)))
      ${body}
      (local.set $P (i32.sub (local.get $P) (i32.const 1)))
      (br $ploop)))`;
const H3 = '(i32.mul (local.get $H) (i32.const 3))';
/** Jump the four gate pointers from the end of one position's gate block to the next position's (3H floats on). */
const nextGates = (ptrs) => ptrs.map((p) => `(local.set ${p} (i32.add (local.get ${p}) (i32.mul (local.get $H) (i32.const 12))))`).join(' ');

/**
 * The LSTM cell of the Row LSTM (models-rnn's net.ts), fused: per position, gates [4H] in the
 * order i, f, o, g (tf.split of the last axis in four). Four kernels, two forward and their
 * two gradients, so that the activated gates are an output of their own (the backward pass
 * reads them instead of recomputing four transcendentals):
 *
 *   lstm_gates:       act = [σ, σ, σ, tanh](a + b)                     [P, 4H]
 *   lstm_gates_grad:  dz = dact·[s(1−s), s(1−s), s(1−s), 1−t²]          from act
 *   lstm_state:       c' = f·c + i·g;  h = o·tanh(c')                   [P, H] each
 *   lstm_state_grad:  dc* = dc' + dh·o·(1 − tanh²c');  dact = [dc*·g, dc*·c, dh·tanh c', dc*·i];  dc = dc*·f
 */
function lstmKernels() {
  const TANH_LANES = ['$ta', '$t', '$t2'];
  const GATE_LANES = ['$x', '$z', ...TANH_LANES];
  const STATE_LANES = ['$i', '$f', '$o', '$g', '$cp', '$cv', ...TANH_LANES];
  const STATE_GRAD_LANES = ['$i', '$f', '$o', '$g', '$cp', '$cv', '$vh', '$vc', '$tc', '$dcs', ...TANH_LANES];
  return `
  (func (export "lstm_gates") (param $a i32) (param $b i32) (param $y i32) (param $P i32) (param $H i32)
    (local $len i32) ${laneLocals(GATE_LANES, STREAM_UNROLL)}
    ${perPosition(`
      ${counted(H3, [['$a', '$x'], ['$b', '$z']], '', [['$y', sigmoidOf('(f32x4.add (local.get $x) (local.get $z))')]], GATE_LANES)}
      ${counted('(local.get $H)', [['$a', '$x'], ['$b', '$z']], '', [['$y', tanhOf('(f32x4.add (local.get $x) (local.get $z))')]], GATE_LANES)}`)})
  (func (export "lstm_gates_grad") (param $act i32) (param $dy i32) (param $dz i32) (param $P i32) (param $H i32)
    (local $len i32) ${laneLocals(['$s', '$d'], STREAM_UNROLL)}
    ${perPosition(`
      ${counted(H3, [['$act', '$s'], ['$dy', '$d']], '', [['$dz', `(f32x4.mul (local.get $d) (f32x4.mul (local.get $s) (f32x4.sub ${splat(1)} (local.get $s))))`]], ['$s', '$d'])}
      ${counted('(local.get $H)', [['$act', '$s'], ['$dy', '$d']], '', [['$dz', `(f32x4.mul (local.get $d) (f32x4.sub ${splat(1)} (f32x4.mul (local.get $s) (local.get $s))))`]], ['$s', '$d'])}`)})
  (func (export "lstm_state") (param $act i32) (param $c i32) (param $h i32) (param $cn i32) (param $P i32) (param $H i32)
    (local $len i32) (local $pi i32) (local $pf i32) (local $po i32) (local $pg i32)
    ${laneLocals(STATE_LANES, STREAM_UNROLL)}
    (local.set $pi (local.get $act))
    (local.set $pf (i32.add (local.get $pi) (i32.shl (local.get $H) (i32.const 2))))
    (local.set $po (i32.add (local.get $pf) (i32.shl (local.get $H) (i32.const 2))))
    (local.set $pg (i32.add (local.get $po) (i32.shl (local.get $H) (i32.const 2))))
    ${perPosition(`
      ${counted('(local.get $H)', [['$pi', '$i'], ['$pf', '$f'], ['$po', '$o'], ['$pg', '$g'], ['$c', '$cp']],
        '(local.set $cv (f32x4.add (f32x4.mul (local.get $f) (local.get $cp)) (f32x4.mul (local.get $i) (local.get $g))))',
        [['$cn', '(local.get $cv)'], ['$h', `(f32x4.mul (local.get $o) ${tanhOf('(local.get $cv)')})`]], STATE_LANES)}
      ${nextGates(['$pi', '$pf', '$po', '$pg'])}`)})
  (func (export "lstm_state_grad") (param $act i32) (param $c i32) (param $cn i32) (param $dh i32) (param $dc i32) (param $dact i32) (param $dcp i32) (param $P i32) (param $H i32)
    (local $len i32) (local $pi i32) (local $pf i32) (local $po i32) (local $pg i32) (local $di i32) (local $df i32) (local $do i32) (local $dg i32)
    ${laneLocals(STATE_GRAD_LANES, STREAM_UNROLL)}
    (local.set $pi (local.get $act))
    (local.set $pf (i32.add (local.get $pi) (i32.shl (local.get $H) (i32.const 2))))
    (local.set $po (i32.add (local.get $pf) (i32.shl (local.get $H) (i32.const 2))))
    (local.set $pg (i32.add (local.get $po) (i32.shl (local.get $H) (i32.const 2))))
    (local.set $di (local.get $dact))
    (local.set $df (i32.add (local.get $di) (i32.shl (local.get $H) (i32.const 2))))
    (local.set $do (i32.add (local.get $df) (i32.shl (local.get $H) (i32.const 2))))
    (local.set $dg (i32.add (local.get $do) (i32.shl (local.get $H) (i32.const 2))))
    ${perPosition(`
      ${counted('(local.get $H)', [['$pi', '$i'], ['$pf', '$f'], ['$po', '$o'], ['$pg', '$g'], ['$c', '$cp'], ['$cn', '$cv'], ['$dh', '$vh'], ['$dc', '$vc']],
        `(local.set $tc ${tanhOf('(local.get $cv)')})
      (local.set $dcs (f32x4.add (local.get $vc) (f32x4.mul (f32x4.mul (local.get $vh) (local.get $o)) (f32x4.sub ${splat(1)} (f32x4.mul (local.get $tc) (local.get $tc))))))`,
        [['$di', '(f32x4.mul (local.get $dcs) (local.get $g))'], ['$df', '(f32x4.mul (local.get $dcs) (local.get $cp))'], ['$do', '(f32x4.mul (local.get $vh) (local.get $tc))'],
          ['$dg', '(f32x4.mul (local.get $dcs) (local.get $i))'], ['$dcp', '(f32x4.mul (local.get $dcs) (local.get $f))']], STATE_GRAD_LANES)}
      ${nextGates(['$pi', '$pf', '$po', '$pg', '$di', '$df', '$do', '$dg'])}`)})`;
}

/** The module's text; `shared`: import a shared memory (the threaded build's heap). */
export function simdWat(shared) {
  const alpha = '(f32x4.splat (local.get $alpha))';
  return `(module
  (import "env" "memory" (memory 1 65536${shared ? ' shared' : ''}))
  ${elementwise('tanh', ['$x'], '$y', '', `(block (result v128) ${TANH})`)}
  ;; dy · (1 − tanh²(x))
  ${elementwise('tanh_grad', ['$x', '$dy'], '$y', '', `(block (result v128) (local.set $z ${`(block (result v128) ${TANH})`}) (f32x4.mul (local.get $b) (f32x4.sub ${splat(1)} (f32x4.mul (local.get $z) (local.get $z)))))`)}
  ;; x < 0 ? α·x : x (tfjs's LeakyRelu)
  ${elementwise('leaky_relu', ['$x'], '$y', '(param $alpha f32)', `(v128.bitselect (f32x4.mul (local.get $a) ${alpha}) (local.get $a) (f32x4.lt (local.get $a) ${splat(0)}))`)}
  ;; x > 0 ? dy : α·dy (tfjs's LeakyRelu gradient)
  ${elementwise('leaky_relu_grad', ['$x', '$dy'], '$y', '(param $alpha f32)', `(v128.bitselect (local.get $b) (f32x4.mul (local.get $b) ${alpha}) (f32x4.gt (local.get $a) ${splat(0)}))`)}
  ;; One Adam step, every operation rounded as core's composite update rounds it (float32,
  ;; no fused multiply-add), so bit-identical to it; b1, c1 = β1, 1 − β1; b2, c2 = β2, 1 − β2:
  ;;   m1 = m·b1 + g·c1;  v1 = v·b2 + (g·g)·c2;  p1 = p − (m1 / (√v1 + ε̂))·step
  (func (export "adam") (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $p1 i32) (param $m1 i32) (param $v1 i32) (param $n i32)
    (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32) (param $step f32) (param $eps f32)
    (local $i i32) (local $vn i32) (local $o i32) (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $vn (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (local.set $n (i32.shl (local.get $n) (i32.const 2)))
    (block $vdone (loop $vloop
      (br_if $vdone (i32.ge_u (local.get $o) (local.get $vn)))
      (local.set $gv (v128.load (i32.add (local.get $g) (local.get $o))))
      (local.set $mv (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (f32x4.splat (local.get $b1)))
        (f32x4.mul (local.get $gv) (f32x4.splat (local.get $c1)))))
      (local.set $vv (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $o))) (f32x4.splat (local.get $b2)))
        (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (local.get $c2)))))
      (v128.store (i32.add (local.get $m1) (local.get $o)) (local.get $mv))
      (v128.store (i32.add (local.get $v1) (local.get $o)) (local.get $vv))
      (v128.store (i32.add (local.get $p1) (local.get $o))
        (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $o)))
          (f32x4.mul (f32x4.div (local.get $mv) (f32x4.add (f32x4.sqrt (local.get $vv)) (f32x4.splat (local.get $eps)))) (f32x4.splat (local.get $step)))))
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (br $vloop)))
    (block $done (loop $loop
      (br_if $done (i32.ge_u (local.get $o) (local.get $n)))
      (local.set $gs (f32.load (i32.add (local.get $g) (local.get $o))))
      (local.set $ms (f32.add (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1)) (f32.mul (local.get $gs) (local.get $c1))))
      (local.set $vs (f32.add (f32.mul (f32.load (i32.add (local.get $v) (local.get $o))) (local.get $b2)) (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $c2))))
      (f32.store (i32.add (local.get $m1) (local.get $o)) (local.get $ms))
      (f32.store (i32.add (local.get $v1) (local.get $o)) (local.get $vs))
      (f32.store (i32.add (local.get $p1) (local.get $o))
        (f32.sub (f32.load (i32.add (local.get $p) (local.get $o)))
          (f32.mul (f32.div (local.get $ms) (f32.add (f32.sqrt (local.get $vs)) (local.get $eps))) (local.get $step))))
      (local.set $o (i32.add (local.get $o) (i32.const 4)))
      (br $loop))))
  ;; dst (cols × rows) = srcᵀ (src rows × cols, float32): 4×4 tiles transposed in registers,
  ;; swept in column blocks of TRANSPOSE_BLOCK so that the destination rows being filled stay
  ;; in cache (a plain loop thrashes it when the row length is a power of two: tfjs's took
  ;; 5.9 ms for [1024, 784] and 0.43 ms for [784, 1024]); the ragged edges one element at a time.
  (func (export "transpose2d") (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $c0 i32) (local $cend i32) (local $r4 i32) (local $c4 i32) (local $s i32) (local $d i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $r4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    ;; full tiles, block by block of columns
    (local.set $c0 (i32.const 0))
    (block $bdone (loop $block
      (br_if $bdone (i32.ge_u (local.get $c0) (local.get $c4)))
      (local.set $cend (i32.add (local.get $c0) (i32.const ${TRANSPOSE_BLOCK})))
      (if (i32.gt_u (local.get $cend) (local.get $c4)) (then (local.set $cend (local.get $c4))))
      (local.set $r (i32.const 0))
      (block $rdone (loop $rloop
        (br_if $rdone (i32.ge_u (local.get $r) (local.get $r4)))
        (local.set $c (local.get $c0))
        (block $cdone (loop $cloop
          (br_if $cdone (i32.ge_u (local.get $c) (local.get $cend)))
          (local.set $s (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2))))
          (local.set $x0 (v128.load (local.get $s)))
          (local.set $s (i32.add (local.get $s) (i32.shl (local.get $cols) (i32.const 2))))
          (local.set $x1 (v128.load (local.get $s)))
          (local.set $s (i32.add (local.get $s) (i32.shl (local.get $cols) (i32.const 2))))
          (local.set $x2 (v128.load (local.get $s)))
          (local.set $s (i32.add (local.get $s) (i32.shl (local.get $cols) (i32.const 2))))
          (local.set $x3 (v128.load (local.get $s)))
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x0) (local.get $x1)))
          (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x0) (local.get $x1)))
          (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x2) (local.get $x3)))
          (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x2) (local.get $x3)))
          (local.set $d (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2))))
          (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
          (local.set $d (i32.add (local.get $d) (i32.shl (local.get $rows) (i32.const 2))))
          (v128.store (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
          (local.set $d (i32.add (local.get $d) (i32.shl (local.get $rows) (i32.const 2))))
          (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
          (local.set $d (i32.add (local.get $d) (i32.shl (local.get $rows) (i32.const 2))))
          (v128.store (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $cloop)))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $rloop)))
      (local.set $c0 (local.get $cend))
      (br $block)))
    ;; the last cols mod 4 columns of the first r4 rows, then the last rows mod 4 rows
    (local.set $r (i32.const 0))
    (block $edone (loop $eloop
      (br_if $edone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $c (if (result i32) (i32.lt_u (local.get $r) (local.get $r4)) (then (local.get $c4)) (else (i32.const 0))))
      (block $fdone (loop $floop
        (br_if $fdone (i32.ge_u (local.get $c) (local.get $cols)))
        (f32.store (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2)))
          (f32.load (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $floop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $eloop))))
  ;; cols (zeroed by the caller) from x; x (zeroed by the caller) += the columns' scatter
  ${convColumns('im2col', '(memory.copy (local.get $d) (local.get $s) (i32.shl (local.get $len) (i32.const 2)))')}
  ${convColumns('col2im', ADD_RUN)}
  ;; aᵀb of two float32 vectors in float64: four running sums (lanes i mod 4), the tail into the
  ;; first, then (s0 + s1) + (s2 + s3): the same operations in the same order as wasm-matmul.ts's dot.
  (func (export "dot") (param $a i32) (param $b i32) (param $n i32) (result f64)
    (local $lo v128) (local $hi v128) (local $va v128) (local $vb v128) (local $vend i32) (local $end i32) (local $s0 f64)
    (local.set $vend (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 2))))
    (block $vdone (loop $vloop (br_if $vdone (i32.ge_u (local.get $a) (local.get $vend)))
      (local.set $va (v128.load (local.get $a)))
      (local.set $vb (v128.load (local.get $b)))
      (local.set $lo (f64x2.add (local.get $lo) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $va)) (f64x2.promote_low_f32x4 (local.get $vb)))))
      (local.set $hi (f64x2.add (local.get $hi) (f64x2.mul
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $va) (local.get $va)))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $vb) (local.get $vb))))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br $vloop)))
    (local.set $s0 (f64x2.extract_lane 0 (local.get $lo)))
    (block $done (loop $loop (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (local.set $s0 (f64.add (local.get $s0) (f64.mul (f64.promote_f32 (f32.load (local.get $a))) (f64.promote_f32 (f32.load (local.get $b))))))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 4)))
      (br $loop)))
    (f64.add (f64.add (local.get $s0) (f64x2.extract_lane 1 (local.get $lo)))
      (f64.add (f64x2.extract_lane 0 (local.get $hi)) (f64x2.extract_lane 1 (local.get $hi)))))
  ${lstmKernels()}
  ${rowsOp('add_rows', 'add')}
  ${rowsOp('sub_rows', 'sub')}
  ${rowsOp('mul_rows', 'mul')}
  ;; rows × bytes copied from src (rows srcStride bytes apart) to dst (dstStride apart): the
  ;; inner loop of Slice, SplitV and Concat, one memory.copy per row.
  (func (export "copy_rows") (param $dst i32) (param $dstStride i32) (param $src i32) (param $srcStride i32) (param $rows i32) (param $bytes i32)
    (block $done (loop $row
      (br_if $done (i32.eqz (local.get $rows)))
      (memory.copy (local.get $dst) (local.get $src) (local.get $bytes))
      (local.set $dst (i32.add (local.get $dst) (local.get $dstStride)))
      (local.set $src (i32.add (local.get $src) (local.get $srcStride)))
      (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
      (br $row))))
  ;; out[c] = scale · Σ_r x[r·cols + c], accumulated in float64 in acc (cols float64s), one
  ;; sequential pass over x; the same sums, in the same order, as wasm-reduce.ts's sumRows.
  (func (export "sum_rows") (param $x i32) (param $rows i32) (param $cols i32) (param $out i32) (param $scale f64) (param $acc i32)
    (local $c i32) (local $q i32) (local $vcols i32) (local $v v128)
    (local.set $vcols (i32.and (local.get $cols) (i32.const -4)))
    (local.set $c (i32.const 0))
    (block $zdone (loop $zero
      (br_if $zdone (i32.ge_u (local.get $c) (local.get $cols)))
      (f64.store (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))) (f64.const 0))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $zero)))
    (block $rdone (loop $row
      (br_if $rdone (i32.eqz (local.get $rows)))
      (local.set $c (i32.const 0))
      (local.set $q (local.get $acc))
      (block $vdone (loop $vloop
        (br_if $vdone (i32.ge_u (local.get $c) (local.get $vcols)))
        (local.set $v (v128.load (local.get $x)))
        (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q)) (f64x2.promote_low_f32x4 (local.get $v))))
        (v128.store offset=16 (local.get $q) (f64x2.add (v128.load offset=16 (local.get $q))
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $q (i32.add (local.get $q) (i32.const 32)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $vloop)))
      (block $cdone (loop $cloop
        (br_if $cdone (i32.ge_u (local.get $c) (local.get $cols)))
        (f64.store (local.get $q) (f64.add (f64.load (local.get $q)) (f64.promote_f32 (f32.load (local.get $x)))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cloop)))
      (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
      (br $row)))
    (local.set $c (i32.const 0))
    (block $odone (loop $oloop
      (br_if $odone (i32.ge_u (local.get $c) (local.get $cols)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2)))
        (f32.demote_f64 (f64.mul (f64.load (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3)))) (local.get $scale))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $oloop))))
)`;
}

/** Both builds' bytes, compiled with wabt (a devDependency: only this generator and its test use it). */
export async function compileSimd() {
  const wabt = await (await import('wabt')).default();
  const bytes = (shared) => {
    const features = { simd: true, threads: true, bulk_memory: true };
    const m = wabt.parseWat(`genlab-simd${shared ? '-shared' : ''}.wat`, simdWat(shared), features);
    try {
      m.validate(features);
      return Buffer.from(m.toBinary({ log: false, write_debug_names: false }).buffer);
    } finally {
      m.destroy();
    }
  };
  return { plain: bytes(false).toString('base64'), shared: bytes(true).toString('base64') };
}

/** The generated TypeScript module. */
export function simdModuleSource({ plain, shared }) {
  return `// Generated by scripts/gen-simd.mjs from the WebAssembly text there: do not edit.
/** genlab's SIMD element-wise kernels, compiled: importing an ordinary memory, and a shared one. */
export const SIMD_WASM = {
  plain: '${plain}',
  shared: '${shared}',
};
`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const target = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'src', 'simd-wasm.ts');
  fs.writeFileSync(target, simdModuleSource(await compileSimd()));
  process.stdout.write(`wrote ${target}\n`);
}
