// The LUT decode unit: Lanes decode lanes behind one table-load port and one residual port.
//
// A beat on the code port carries Lanes codes, and for each lane the select bit and scale of the block
// its code belongs to: blocks are packed back to back, so a beat may span several blocks and a block
// several beats, whatever the block size; only a tensor's last beat is padded. With it come the resident
// layer slot and a flag marking a tensor's first beat. Each lane reads LUT[layer][table][code] (table: the
// lane's TableBits-wide selector, one of the slot's 2^TableBits tables), multiplies
// it by its scale exactly (sop_lane_mul) and the beat's products leave through a registered valid/ready
// output stage. Lane l of a bus is bits [l*W +: W] (flat vectors: yosys 0.23 reads no packed
// multi-dimensional arrays).
//
// Sparse residuals arrive as (index, entry), sorted by index within a tensor; index counts weights from
// the tensor's first beat. They pass through a one-entry holding register: every residual falling in a
// beat is merged (one per cycle) before the beat issues and replaces that lane's LUT entry. The port must
// show the current tensor's residuals in order and then the sentinel index all-ones ("none left"),
// which it keeps showing (a take of the sentinel does not consume it), so a beat knows when it is
// complete; residuals behind the beat (index < beat start) are dropped, as the golden decode skips them.
//
// Table loads write one entry per cycle and are always accepted; a beat issued in the same cycle as a
// load reads the old entry. The unit does not track which tables are loaded: the controller driving it
// offers a beat only once its tables are written (model/tlm streams a layer's tables through a slot's
// tables this way, docs/rtl.md "Streamed tables").
//
// Timing (what tests/rtl checks, cycle for cycle; docs/rtl.md "Timing" gives the cycle counts):
//  - load_ready_o is always 1: a load entry is written in every cycle load_valid_i is high.
//  - res_ready_o is high while a beat is offered (in_valid_i) and the holding register is empty, frees
//    (its residual merged or dropped in this cycle), or is refilled: the first cycle a tensor's first beat
//    (in_first_i) is offered drops what the register held (the last tensor's sentinel) and takes the
//    port. A taken entry is used from the next cycle. No beat, no take.
//  - While a beat is offered, a held residual before the beat's end (beat start + Lanes) is consumed in
//    one cycle: merged if it falls in the beat, dropped if it lies behind it; one per cycle, whatever the
//    pipeline holds.
//  - The beat issues (in_ready_o) in the first cycle the register holds an entry at or past its end (the
//    next residual or the sentinel) and the first pipeline stage is free: empty, or its beat moving on in
//    that same cycle. So a tensor of B beats and R residuals takes 1 + B + R cycles at full rate (the 1:
//    the register's refill). in_ready_o depends on registered state, in_valid_i, in_first_i and the
//    stages' ready chain (out_ready_i), never on res_index_i.
//  - PipeStages one-entry stages follow the issue, the last the output stage: a beat moves on when the
//    next stage is empty or moving, so out_valid_o rises PipeStages cycles after the issue at the
//    earliest and stays, with its products unchanged, until the cycle out_ready_i is high.
module sop_decode_unit #(
  parameter int unsigned   Lanes           = 8,
  parameter int unsigned   CodeBits        = 4,
  parameter int unsigned   ResidentLayers  = 2,
  // Selector width: 2^TableBits tables per resident layer slot, 1..4 (1: the codebook pair).
  parameter int unsigned   TableBits       = 1,
  // FP16 LUT entries instead of HIF (the comparison datapath). A bit rather than the package enum so
  // that tools can override it from the command line (verilator -G, yosys chparam).
  parameter bit            Fp16Entries     = 1'b0,
  parameter bit            ScaleHasSign    = 1'b1,
  parameter int unsigned   ScaleExpBits    = 4,
  parameter int unsigned   ScaleManBits    = 3,
  parameter bit            ScaleSubnormals = 1'b1,
  parameter int unsigned   IndexBits       = 32,
  // Register stages from a beat's issue to its products, 1..3 (the cuts: "pipeline control" below).
  parameter int unsigned   PipeStages      = 1,
  localparam sop_decode_pkg::entry_format_e EntryFormat = Fp16Entries ? sop_decode_pkg::EntryFp16 : sop_decode_pkg::EntryHif,
  localparam int unsigned EntryBits   = (EntryFormat == sop_decode_pkg::EntryFp16) ?
                                          sop_decode_pkg::Fp16EntryBits : sop_decode_pkg::HifEntryBits,
  localparam int unsigned ScaleBits   = (ScaleHasSign ? 1 : 0) + ScaleExpBits + ScaleManBits,
  localparam int unsigned LayerBits   = (ResidentLayers > 1) ? $clog2(ResidentLayers) : 1,
  localparam int unsigned LaneBits    = (Lanes > 1) ? $clog2(Lanes) : 1,
  localparam int unsigned LoBits      = IndexBits / 2,  // the residual subtract's halves
  localparam int unsigned HiBits      = IndexBits - LoBits,
  // Offsets are compared with Lanes and 2 x Lanes on their low CmpBits bits, the rest tested for zero,
  // so that no compare becomes an IndexBits-wide borrow chain.
  // IndexLegal keeps them within the low half.
  localparam int unsigned CmpBits     = LaneBits + 2,
  localparam int unsigned EManBits    = Fp16Entries ? sop_decode_pkg::Fp16ManBits : sop_decode_pkg::HifManBits,
  localparam int unsigned EExpBits    = Fp16Entries ? sop_decode_pkg::Fp16ExpBits : sop_decode_pkg::HifExpBits,
  localparam int unsigned ProdManBits = EManBits + ScaleManBits + 1,
  localparam int unsigned ProdExpBits = ((EExpBits > ScaleExpBits) ? EExpBits : ScaleExpBits) + 1
) (
  input  logic                                  clk_i,
  input  logic                                  rst_ni,
  // table load
  input  logic                                  load_valid_i,
  output logic                                  load_ready_o,
  input  logic [LayerBits-1:0]                  load_layer_i,
  input  logic [TableBits-1:0]                  load_table_i,
  input  logic [CodeBits-1:0]                   load_index_i,
  input  logic [EntryBits-1:0]                  load_entry_i,
  // code beats
  input  logic                                  in_valid_i,
  output logic                                  in_ready_o,
  input  logic [Lanes*CodeBits-1:0]             in_codes_i,
  input  logic [Lanes*TableBits-1:0]            in_sel_i,
  input  logic [Lanes*ScaleBits-1:0]            in_scale_i,
  input  logic [LayerBits-1:0]                  in_layer_i,
  input  logic                                  in_first_i,
  // sparse residuals
  input  logic                                  res_valid_i,
  output logic                                  res_ready_o,
  input  logic [IndexBits-1:0]                  res_index_i,
  input  logic [EntryBits-1:0]                  res_entry_i,
  // products: value = mant * 2^(exp - offset), offset in docs/hif.md
  output logic                                  out_valid_o,
  input  logic                                  out_ready_i,
  output logic [Lanes*ProdManBits-1:0]          out_mant_o,
  output logic [Lanes*ProdExpBits-1:0]          out_exp_o
);

  // ---- table load ----
  assign load_ready_o = 1'b1;

  logic [Lanes*EntryBits-1:0] lut_rdata;

  sop_lut #(
    .Layers   (ResidentLayers),
    .CodeBits (CodeBits),
    .EntryBits(EntryBits),
    .Lanes    (Lanes),
    .TableBits(TableBits)
  ) u_lut (
    .clk_i   (clk_i),
    .we_i    (load_valid_i),
    .wlayer_i(load_layer_i),
    .wtable_i(load_table_i),
    .windex_i(load_index_i),
    .wdata_i (load_entry_i),
    .rlayer_i(in_layer_i),
    .rtable_i(in_sel_i),
    .rcodes_i(in_codes_i),
    .rdata_o (lut_rdata)
  );

  // ---- residual holding register ----
  // The residual port feeds a one-entry holding register; every decision of a cycle (take, merge, drop,
  // issue) is made on registered values, so no input reaches in_ready_o through an index compare. At
  // the take, the index becomes an offset from the current beat's start (hold_off_q; the 32-bit subtract
  // is an input-to-register path) and the compare against the beat (hold_hit_q) is registered with it;
  // each issued beat lowers the offset by Lanes and registers the next compare, which is against the
  // constant 2 x Lanes on the old offset. The sentinel (all-ones) is flagged, never compared.
  logic [IndexBits-1:0] count_d, count_q;    // the next beat's first weight index within its tensor
  logic [IndexBits-1:0] beat_base;
  logic                 hold_valid_d, hold_valid_q;
  logic                 hold_sent_d, hold_sent_q;    // the sentinel: nothing left in this tensor
  logic                 hold_stale_d, hold_stale_q;  // behind the beat when taken: dropped
  logic                 hold_hit_d, hold_hit_q;      // in the current beat: merged into its lane
  logic [IndexBits-1:0] hold_off_d, hold_off_q;      // index - current beat start (neither sentinel nor stale)
  logic [EntryBits-1:0] hold_entry_d, hold_entry_q;
  logic                 filled_d, filled_q;          // the offered first beat has refilled the register
  logic                 fill, use_hold, res_hit, res_stale, take;
  logic [IndexBits-1:0] load_off;
  logic [LoBits:0]      sub_lo;
  logic [HiBits:0]      sub_hi0, sub_hi1, sub_hi;
  logic                 load_sent, load_stale, load_hit;
  logic [LaneBits-1:0]  res_lane;
  logic                 stage_free;
  logic                 fire;

  logic [Lanes-1:0]           ovr_mask_d, ovr_mask_q;
  logic [Lanes*EntryBits-1:0] ovr_entry_d, ovr_entry_q;

  // A tensor's first beat, offered for the first time, drops what the register holds (the last tensor's
  // sentinel) and takes the port's first entry, relative to weight 0: one cycle per tensor.
  assign fill      = in_valid_i && in_first_i && !filled_q;
  assign use_hold  = in_valid_i && !fill && hold_valid_q;
  assign res_hit   = use_hold && hold_hit_q;
  assign res_stale = use_hold && hold_stale_q;
  assign take      = res_valid_i && res_ready_o;
  assign res_lane  = hold_off_q[LaneBits-1:0];

  // The offered beat's first weight; a take is relative to it (the register takes only while a beat is
  // offered, and never in a cycle a beat issues). A tensor's first beat starts at 0: the index is the
  // offset. Otherwise index - count_q, as a carry-select subtract of two halves (each half's borrow chain
  // in parallel, the high half for both borrows in), so the input-to-register path is half a 32-bit
  // chain; its borrow out is the stale test.
  assign beat_base  = in_first_i ? '0 : count_q;
  assign sub_lo  = {1'b0, res_index_i[LoBits-1:0]} - {1'b0, count_q[LoBits-1:0]};
  assign sub_hi0 = {1'b0, res_index_i[IndexBits-1:LoBits]} - {1'b0, count_q[IndexBits-1:LoBits]};
  assign sub_hi1 = {1'b0, res_index_i[IndexBits-1:LoBits]} + {1'b1, ~count_q[IndexBits-1:LoBits]};  // - 1
  assign sub_hi  = sub_lo[LoBits] ? sub_hi1 : sub_hi0;
  assign load_off   = in_first_i ? res_index_i : {sub_hi[HiBits-1:0], sub_lo[LoBits-1:0]};
  assign load_sent  = (res_index_i == '1);
  assign load_stale = !load_sent && !in_first_i && sub_hi[HiBits];
  // In the beat: the high half zero (tested on both candidates, in parallel with the low half's borrow
  // chain) and the low half below Lanes.
  assign load_hit   = !load_sent && (in_first_i ? ((res_index_i >> CmpBits) == '0 && res_index_i[CmpBits-1:0] < CmpBits'(Lanes))
                                                : ((sub_lo[LoBits] ? (sub_hi1 == '0) : (sub_hi0 == '0))
                                                   && (sub_lo[LoBits-1:0] >> CmpBits) == '0
                                                   && sub_lo[CmpBits-1:0] < CmpBits'(Lanes)));

  // A beat issues once the register holds an entry past it and the first pipeline stage has room.
  assign fire        = use_hold && !hold_hit_q && !hold_stale_q && stage_free;
  assign in_ready_o  = fire;
  // The register takes the port while a beat is offered and it is empty, emptied (merge, drop) or refilled.
  assign res_ready_o = in_valid_i && (fill || !hold_valid_q || res_hit || res_stale);

  always_comb begin
    hold_valid_d = hold_valid_q;
    hold_sent_d  = hold_sent_q;
    hold_stale_d = hold_stale_q;
    hold_hit_d   = hold_hit_q;
    hold_off_d   = hold_off_q;
    hold_entry_d = hold_entry_q;
    filled_d     = filled_q;
    if (take) begin
      // Never in an issuing cycle: a take needs the register empty, emptied or refilled.
      hold_valid_d = 1'b1;
      hold_sent_d  = load_sent;
      hold_stale_d = load_stale;
      hold_hit_d   = load_hit;
      hold_off_d   = load_off;
      hold_entry_d = res_entry_i;
    end else if (fill || res_hit || res_stale) begin
      hold_valid_d = 1'b0;
    end else if (fire) begin
      hold_off_d   = hold_off_q - IndexBits'(Lanes);
      hold_hit_d   = !hold_sent_q && ((hold_off_q >> CmpBits) == '0)
                     && (hold_off_q[CmpBits-1:0] < CmpBits'(2 * Lanes));
    end
    if (fill && take) begin
      filled_d = 1'b1;
    end else if (fire) begin
      filled_d = 1'b0;
    end
  end

  always_comb begin
    ovr_mask_d  = ovr_mask_q;
    ovr_entry_d = ovr_entry_q;
    count_d     = count_q;
    if (fire) begin
      ovr_mask_d = '0;
      count_d    = beat_base + IndexBits'(Lanes);
    end else if (res_hit) begin
      ovr_mask_d[res_lane]  = 1'b1;
      ovr_entry_d[res_lane*EntryBits +: EntryBits] = hold_entry_q;
    end
  end

  // ---- pipeline control ----
  // PipeStages one-entry stages from the issue to the output, stage PipeStages-1 the output stage. A
  // stage takes a beat when it is empty or its beat moves on in the same cycle (stg_ready), so every
  // stage holds its beat while the one after it is full, and a beat a cycle flows when out_ready_i stays
  // high. The cuts: 1 = the products registered at the output; 2 = also the lanes' entries (LUT read and
  // residual override) and scales registered at the issue, the multiply in the next cycle; 3 = also the
  // product registered after the multiply and the exponent add, the scale's negate in the last cycle.
  logic [PipeStages:0]   stg_ready;
  logic [PipeStages-1:0] stg_load, stg_valid_d, stg_valid_q;

  // The ready chain in one process from the output back to the issue, so that no bit of the vector
  // depends on another of its bits across processes; the loads and valid bits (which depend on the issue,
  // hence on stg_ready[0]) in another.
  always_comb begin
    stg_ready[PipeStages] = out_ready_i;
    for (int unsigned i = 1; i <= PipeStages; i++) begin
      stg_ready[PipeStages-i] = !stg_valid_q[PipeStages-i] || stg_ready[PipeStages-i+1];
    end
  end
  always_comb begin
    stg_load[0] = fire;
    for (int unsigned s = 1; s < PipeStages; s++) begin
      stg_load[s] = stg_valid_q[s-1] && stg_ready[s];
    end
    for (int unsigned s = 0; s < PipeStages; s++) begin
      stg_valid_d[s] = stg_load[s] || (stg_valid_q[s] && !stg_ready[s+1]);
    end
  end
  assign stage_free  = stg_ready[0];

  // ---- lanes ----
  logic [Lanes*EntryBits-1:0]   iss_entry;   // each lane's entry at the issue: LUT or residual
  logic [Lanes*EntryBits-1:0]   mul_entry;   // ... and at the multiply
  logic [Lanes*ScaleBits-1:0]   mul_scale;
  logic [Lanes*ProdManBits-1:0] mul_prod, sgn_prod;
  logic [Lanes-1:0]             mul_neg, sgn_neg;
  logic [Lanes*ProdExpBits-1:0] mul_exp, sgn_exp;
  logic [Lanes*ProdManBits-1:0] mant_d, mant_q;
  logic [Lanes*ProdExpBits-1:0] exp_d, exp_q;
  logic [Lanes*ProdManBits-1:0] lane_mant;

  for (genvar l = 0; l < Lanes; l++) begin : gen_lane
    logic [EntryBits-1:0] entry;
    assign entry = ovr_mask_q[l] ? ovr_entry_q[l*EntryBits +: EntryBits]
                                  : lut_rdata[l*EntryBits +: EntryBits];
    assign iss_entry[l*EntryBits +: EntryBits] = entry;

    sop_lane_mul #(
      .EntryFormat    (EntryFormat),
      .ScaleHasSign   (ScaleHasSign),
      .ScaleExpBits   (ScaleExpBits),
      .ScaleManBits   (ScaleManBits),
      .ScaleSubnormals(ScaleSubnormals)
    ) u_mul (
      .entry_i(mul_entry[l*EntryBits +: EntryBits]),
      .scale_i(mul_scale[l*ScaleBits +: ScaleBits]),
      .prod_o (mul_prod[l*ProdManBits +: ProdManBits]),
      .neg_o  (mul_neg[l]),
      .exp_o  (mul_exp[l*ProdExpBits +: ProdExpBits])
    );

    logic signed [ProdManBits-1:0] prod;
    assign prod = $signed(sgn_prod[l*ProdManBits +: ProdManBits]);
    assign lane_mant[l*ProdManBits +: ProdManBits] = sgn_neg[l] ? -prod : prod;
  end

  // The stage registers. Their data flops have no reset (a stage's valid bit is reset and guards them),
  // which keeps them the cheapest flop cell, as the LUT's.
  if (PipeStages >= 2) begin : gen_issue_reg
    logic [Lanes*EntryBits-1:0] entry_d, entry_q;
    logic [Lanes*ScaleBits-1:0] scale_d, scale_q;
    always_comb begin
      entry_d = entry_q;
      scale_d = scale_q;
      if (stg_load[0]) begin
        entry_d = iss_entry;
        scale_d = in_scale_i;
      end
    end
    always_ff @(posedge clk_i) begin
      entry_q <= entry_d;
      scale_q <= scale_d;
    end
    assign mul_entry = entry_q;
    assign mul_scale = scale_q;
  end else begin : gen_issue_comb
    assign mul_entry = iss_entry;
    assign mul_scale = in_scale_i;
  end

  if (PipeStages >= 3) begin : gen_mul_reg
    logic [Lanes*ProdManBits-1:0] prod_d, prod_q;
    logic [Lanes-1:0]             neg_d, neg_q;
    logic [Lanes*ProdExpBits-1:0] pexp_d, pexp_q;
    always_comb begin
      prod_d = prod_q;
      neg_d  = neg_q;
      pexp_d = pexp_q;
      if (stg_load[1]) begin
        prod_d = mul_prod;
        neg_d  = mul_neg;
        pexp_d = mul_exp;
      end
    end
    always_ff @(posedge clk_i) begin
      prod_q <= prod_d;
      neg_q  <= neg_d;
      pexp_q <= pexp_d;
    end
    assign sgn_prod = prod_q;
    assign sgn_neg  = neg_q;
    assign sgn_exp  = pexp_q;
  end else begin : gen_mul_comb
    assign sgn_prod = mul_prod;
    assign sgn_neg  = mul_neg;
    assign sgn_exp  = mul_exp;
  end

  // ---- output stage ----
  always_comb begin
    mant_d = mant_q;
    exp_d  = exp_q;
    if (stg_load[PipeStages-1]) begin
      mant_d = lane_mant;
      exp_d  = sgn_exp;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      count_q      <= '0;
      hold_valid_q <= 1'b0;
      hold_sent_q  <= 1'b0;
      hold_stale_q <= 1'b0;
      hold_hit_q   <= 1'b0;
      hold_off_q   <= '0;
      hold_entry_q <= '0;
      filled_q     <= 1'b0;
      ovr_mask_q   <= '0;
      ovr_entry_q  <= '0;
      stg_valid_q  <= '0;
      mant_q       <= '0;
      exp_q        <= '0;
    end else begin
      count_q      <= count_d;
      hold_valid_q <= hold_valid_d;
      hold_sent_q  <= hold_sent_d;
      hold_stale_q <= hold_stale_d;
      hold_hit_q   <= hold_hit_d;
      hold_off_q   <= hold_off_d;
      hold_entry_q <= hold_entry_d;
      filled_q     <= filled_d;
      ovr_mask_q   <= ovr_mask_d;
      ovr_entry_q  <= ovr_entry_d;
      stg_valid_q  <= stg_valid_d;
      mant_q       <= mant_d;
      exp_q        <= exp_d;
    end
  end

  assign out_valid_o = stg_valid_q[PipeStages-1];
  assign out_mant_o  = mant_q;
  assign out_exp_o   = exp_q;

`ifndef SYNTHESIS
  initial begin : legal_params
    LanesLegal : assert (Lanes >= 1 && Lanes <= 256) else $fatal(1, "Lanes must be 1..256");
    CodeBitsLegal : assert (CodeBits == 4 || CodeBits == 6) else $fatal(1, "CodeBits must be 4 or 6");
    LayersLegal : assert (ResidentLayers >= 1) else $fatal(1, "ResidentLayers must be >= 1");
    TableBitsLegal : assert (TableBits >= 1 && TableBits <= 4) else $fatal(1, "TableBits must be 1..4");
    IndexLegal : assert (IndexBits <= 32 && IndexBits >= 2 * CmpBits)
      else $fatal(1, "IndexBits must be 2 x (clog2(Lanes) + 2) .. 32");
    PipeStagesLegal : assert (PipeStages >= 1 && PipeStages <= 3) else $fatal(1, "PipeStages must be 1..3");
    ScaleLegal : assert (ScaleExpBits >= 1 && ScaleExpBits <= 8 && ScaleManBits <= 7)
      else $fatal(1, "scale format out of range");
  end

  // Checked at every clock edge: a valid output carries known bits, and a load names a resident layer.
  always_ff @(posedge clk_i) begin
    if (rst_ni) begin
      OutKnown : assert (!out_valid_o || !$isunknown({out_mant_o, out_exp_o}))
        else $error("out_valid_o with unknown product bits");
      LoadLayerLegal : assert (!load_valid_i || (32'(load_layer_i) < ResidentLayers))
        else $error("table load to a layer slot that is not resident");
    end
  end
`endif

endmodule
