// One lane's product: LUT entry x block scale, formed exactly as an integer multiply of the two
// mantissas plus an add of the two exponent fields (model/golden/decode.cc, multiply()). The scale's
// sign is returned apart (neg_o) and applied by the caller (sop_decode_unit), so that a pipeline
// register may sit between the multiply and the negate (PipeStages = 3).
module sop_lane_mul #(
  parameter sop_decode_pkg::entry_format_e EntryFormat     = sop_decode_pkg::EntryHif,
  parameter bit            ScaleHasSign    = 1'b1,
  parameter int unsigned   ScaleExpBits    = 4,
  parameter int unsigned   ScaleManBits    = 3,
  parameter bit            ScaleSubnormals = 1'b1,
  localparam int unsigned EntryBits   = (EntryFormat == sop_decode_pkg::EntryFp16) ?
                                          sop_decode_pkg::Fp16EntryBits : sop_decode_pkg::HifEntryBits,
  localparam int unsigned EManBits    = (EntryFormat == sop_decode_pkg::EntryFp16) ?
                                          sop_decode_pkg::Fp16ManBits : sop_decode_pkg::HifManBits,
  localparam int unsigned EExpBits    = (EntryFormat == sop_decode_pkg::EntryFp16) ?
                                          sop_decode_pkg::Fp16ExpBits : sop_decode_pkg::HifExpBits,
  localparam int unsigned ScaleBits   = (ScaleHasSign ? 1 : 0) + ScaleExpBits + ScaleManBits,
  localparam int unsigned ProdManBits = EManBits + ScaleManBits + 1,
  localparam int unsigned ProdExpBits = ((EExpBits > ScaleExpBits) ? EExpBits : ScaleExpBits) + 1
) (
  input  logic [EntryBits-1:0]          entry_i,
  input  logic [ScaleBits-1:0]          scale_i,
  output logic signed [ProdManBits-1:0] prod_o,  // entry mantissa x scale mantissa, before the scale's sign
  output logic                          neg_o,   // the scale is negative: the caller negates prod_o
  output logic [ProdExpBits-1:0]        exp_o
);

  // ---- entry as (signed integer mantissa, raw exponent field) ----
  logic signed [EManBits-1:0] e_man;
  logic [EExpBits-1:0]        e_exp;

  if (EntryFormat == sop_decode_pkg::EntryFp16) begin : gen_fp16
    logic [4:0]  f_exp;
    logic [10:0] f_mag;
    assign f_exp = entry_i[14:10];
    // Subnormals have no hidden bit and share exponent 1; e = 31 is decoded as a finite value.
    assign f_mag = {f_exp != 5'd0, entry_i[9:0]};
    assign e_man = entry_i[15] ? -$signed({1'b0, f_mag}) : $signed({1'b0, f_mag});
    assign e_exp = (f_exp == 5'd0) ? 5'd1 : f_exp;
  end else begin : gen_hif
    assign e_man = $signed(entry_i[sop_decode_pkg::HifManBits-1:0]);
    assign e_exp = entry_i[sop_decode_pkg::HifManBits +: sop_decode_pkg::HifExpBits];
  end

  // ---- scale as (sign, unsigned mantissa with hidden bit, raw exponent field) ----
  logic [ScaleExpBits-1:0] s_exp_field;
  logic [ScaleManBits:0]   s_man;
  logic [ScaleExpBits-1:0] s_exp;
  logic                    s_neg;
  logic                    s_sub;

  assign s_exp_field = scale_i[ScaleManBits +: ScaleExpBits];
  assign s_sub       = ScaleSubnormals && (s_exp_field == '0);
  if (ScaleManBits > 0) begin : gen_scale_man
    assign s_man = {!s_sub, scale_i[ScaleManBits-1:0]};
  end else begin : gen_scale_pot
    assign s_man = !s_sub;
  end
  assign s_exp = s_sub ? ScaleExpBits'(1) : s_exp_field;
  if (ScaleHasSign) begin : gen_scale_sign
    assign s_neg = scale_i[ScaleBits-1];
  end else begin : gen_scale_unsigned
    assign s_neg = 1'b0;
  end

  // ---- the small multiply; the scale's sign goes out beside it ----
  logic signed [ProdManBits-1:0] prod;

`ifdef SOP_BREAK_MULTIPLY
  // Deliberately wrong: one partial-product bit flipped, for the regression's negative test.
  assign prod = (ProdManBits'(e_man) * $signed({1'b0, s_man})) ^ ProdManBits'({e_man[0] & s_man[0], 2'b00});
`else
  assign prod = ProdManBits'(e_man) * $signed({1'b0, s_man});
`endif

  assign prod_o = prod;
  assign neg_o  = s_neg;
  assign exp_o  = ProdExpBits'(e_exp) + ProdExpBits'(s_exp);

endmodule
