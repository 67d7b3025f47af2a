// The LUT decode unit: Lanes decode lanes behind one table-load port and one residual port.
//
// A beat on the code port carries Lanes codes, and for each lane the select bit and scale of the block
// its code belongs to: blocks are packed back to back, so a beat may span several blocks and a block
// several beats, whatever the block size; only a tensor's last beat is padded. With it come the resident
// layer slot and a flag marking a tensor's first beat. Each lane reads LUT[layer][sel][code], multiplies
// it by its scale exactly (sop_lane_mul) and the beat's products leave through a registered valid/ready
// output stage. Lane l of a bus is bits [l*W +: W] (flat vectors: yosys 0.23 reads no packed
// multi-dimensional arrays).
//
// Sparse residuals arrive as (index, entry), sorted by index within a tensor; index counts weights from
// the tensor's first beat. Before a beat issues, every residual falling in it is taken (one per cycle)
// and replaces that lane's LUT entry. The port must always present either the next residual of the
// current tensor or the sentinel index all-ones ("none left"), so a beat knows when it is complete;
// residuals behind the beat (index < beat start) are dropped, as the golden decode skips them.
//
// Table loads write one entry per cycle and are always accepted; a beat issued in the same cycle as a
// load reads the old entry.
//
// Timing (what tests/rtl checks, cycle for cycle; docs/rtl.md "Timing" gives the cycle counts):
//  - load_ready_o is always 1: a load entry is written in every cycle load_valid_i is high.
//  - While a beat is offered (in_valid_i), a cycle with res_valid_i and res_index_i before the beat's end
//    (beat start + Lanes) takes that residual (res_ready_o): merged if it falls in the beat, dropped if it
//    lies behind it. One residual per cycle, whether or not the output stage is free. No beat, no take.
//  - The beat issues (in_ready_o) in the first cycle with res_valid_i and res_index_i at or past its end
//    (the next residual or the sentinel) in which the output stage is free: empty, or its beat accepted
//    (out_ready_i) in that same cycle. So a beat with k residuals takes k + 1 cycles at full rate.
//  - The output stage holds one beat: out_valid_o rises the cycle after the beat issues and stays, with
//    its products unchanged, until the cycle out_ready_i is high.
module sop_decode_unit #(
  parameter int unsigned   Lanes           = 8,
  parameter int unsigned   CodeBits        = 4,
  parameter int unsigned   ResidentLayers  = 2,
  // FP16 LUT entries instead of HIF (the comparison datapath). A bit rather than the package enum so
  // that tools can override it from the command line (verilator -G, yosys chparam).
  parameter bit            Fp16Entries     = 1'b0,
  parameter bit            ScaleHasSign    = 1'b1,
  parameter int unsigned   ScaleExpBits    = 4,
  parameter int unsigned   ScaleManBits    = 3,
  parameter bit            ScaleSubnormals = 1'b1,
  parameter int unsigned   IndexBits       = 32,
  localparam sop_decode_pkg::entry_format_e EntryFormat = Fp16Entries ? sop_decode_pkg::EntryFp16 : sop_decode_pkg::EntryHif,
  localparam int unsigned EntryBits   = (EntryFormat == sop_decode_pkg::EntryFp16) ?
                                          sop_decode_pkg::Fp16EntryBits : sop_decode_pkg::HifEntryBits,
  localparam int unsigned ScaleBits   = (ScaleHasSign ? 1 : 0) + ScaleExpBits + ScaleManBits,
  localparam int unsigned LayerBits   = (ResidentLayers > 1) ? $clog2(ResidentLayers) : 1,
  localparam int unsigned LaneBits    = (Lanes > 1) ? $clog2(Lanes) : 1,
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
  input  logic                                  load_table_i,
  input  logic [CodeBits-1:0]                   load_index_i,
  input  logic [EntryBits-1:0]                  load_entry_i,
  // code beats
  input  logic                                  in_valid_i,
  output logic                                  in_ready_o,
  input  logic [Lanes*CodeBits-1:0]             in_codes_i,
  input  logic [Lanes-1:0]                      in_sel_i,
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
    .Lanes    (Lanes)
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

  // ---- residual merge ----
  logic [IndexBits-1:0] count_d, count_q;
  logic [IndexBits-1:0] beat_base;
  logic [IndexBits-1:0] res_offset;
  logic                 res_stale, res_hit;
  logic [LaneBits-1:0]  res_lane;
  logic                 stage_free;
  logic                 fire;

  logic [Lanes-1:0]                ovr_mask_d, ovr_mask_q;
  logic [Lanes*EntryBits-1:0] ovr_entry_d, ovr_entry_q;

  assign beat_base  = in_first_i ? '0 : count_q;
  assign res_offset = res_index_i - beat_base;
  assign res_stale  = res_valid_i && (res_index_i < beat_base);
  assign res_hit    = res_valid_i && !res_stale && (res_offset < IndexBits'(Lanes));
  assign res_lane   = res_offset[LaneBits-1:0];

  // A beat issues once the residual port shows something beyond it and the output stage has room.
  assign stage_free  = !out_valid_o || out_ready_i;
  assign fire        = in_valid_i && res_valid_i && !res_hit && !res_stale && stage_free;
  assign in_ready_o  = fire;
  assign res_ready_o = in_valid_i && (res_hit || res_stale);

  always_comb begin
    ovr_mask_d  = ovr_mask_q;
    ovr_entry_d = ovr_entry_q;
    count_d     = count_q;
    if (fire) begin
      ovr_mask_d = '0;
      count_d    = beat_base + IndexBits'(Lanes);
    end else if (in_valid_i && res_hit) begin
      ovr_mask_d[res_lane]  = 1'b1;
      ovr_entry_d[res_lane*EntryBits +: EntryBits] = res_entry_i;
    end
  end

  // ---- lanes ----
  logic [Lanes*ProdManBits-1:0] mant_d, mant_q;
  logic [Lanes*ProdExpBits-1:0] exp_d, exp_q;
  logic [Lanes*ProdManBits-1:0] lane_mant;
  logic [Lanes*ProdExpBits-1:0] lane_exp;

  for (genvar l = 0; l < Lanes; l++) begin : gen_lane
    logic [EntryBits-1:0] entry;
    assign entry = ovr_mask_q[l] ? ovr_entry_q[l*EntryBits +: EntryBits]
                                  : lut_rdata[l*EntryBits +: EntryBits];

    sop_lane_mul #(
      .EntryFormat    (EntryFormat),
      .ScaleHasSign   (ScaleHasSign),
      .ScaleExpBits   (ScaleExpBits),
      .ScaleManBits   (ScaleManBits),
      .ScaleSubnormals(ScaleSubnormals)
    ) u_mul (
      .entry_i(entry),
      .scale_i(in_scale_i[l*ScaleBits +: ScaleBits]),
      .mant_o (lane_mant[l*ProdManBits +: ProdManBits]),
      .exp_o  (lane_exp[l*ProdExpBits +: ProdExpBits])
    );
  end

  // ---- output stage ----
  logic out_valid_d, out_valid_q;

  always_comb begin
    out_valid_d = out_valid_q;
    mant_d      = mant_q;
    exp_d       = exp_q;
    if (fire) begin
      out_valid_d = 1'b1;
      mant_d      = lane_mant;
      exp_d       = lane_exp;
    end else if (out_ready_i) begin
      out_valid_d = 1'b0;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      count_q     <= '0;
      ovr_mask_q  <= '0;
      ovr_entry_q <= '0;
      out_valid_q <= 1'b0;
      mant_q      <= '0;
      exp_q       <= '0;
    end else begin
      count_q     <= count_d;
      ovr_mask_q  <= ovr_mask_d;
      ovr_entry_q <= ovr_entry_d;
      out_valid_q <= out_valid_d;
      mant_q      <= mant_d;
      exp_q       <= exp_d;
    end
  end

  assign out_valid_o = out_valid_q;
  assign out_mant_o  = mant_q;
  assign out_exp_o   = exp_q;

`ifndef SYNTHESIS
  initial begin : legal_params
    LanesLegal : assert (Lanes >= 1 && Lanes <= 256) else $fatal(1, "Lanes must be 1..256");
    CodeBitsLegal : assert (CodeBits == 4 || CodeBits == 6) else $fatal(1, "CodeBits must be 4 or 6");
    LayersLegal : assert (ResidentLayers >= 1) else $fatal(1, "ResidentLayers must be >= 1");
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
