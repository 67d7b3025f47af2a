// The LUT storage: for each resident layer slot, 2^TableBits tables (the codebook pair at TableBits = 1,
// up to 16 tables) of 2^CodeBits entries. One write port (table load), one read port per lane; all lanes of
// a beat read the same layer slot, each lane the table its block selects (TableBits bits per lane). Buses are flat vectors (lane l in bits [l*W +: W]) because yosys 0.23 reads no packed
// multi-dimensional arrays. Kept as a flip-flop array: at these sizes (a few Kbit) flops beat an SRAM macro, and every
// lane gets its own read mux without banking. The array has no reset: tables are loaded before use.
module sop_lut #(
  parameter int unsigned Layers    = 2,
  parameter int unsigned CodeBits  = 4,
  parameter int unsigned EntryBits = 11,
  parameter int unsigned Lanes     = 8,
  parameter int unsigned TableBits = 1,
  localparam int unsigned LayerBits = (Layers > 1) ? $clog2(Layers) : 1
) (
  input  logic                                clk_i,
  // write port
  input  logic                                we_i,
  input  logic [LayerBits-1:0]                wlayer_i,
  input  logic [TableBits-1:0]                wtable_i,
  input  logic [CodeBits-1:0]                 windex_i,
  input  logic [EntryBits-1:0]                wdata_i,
  // read ports
  input  logic [LayerBits-1:0]                rlayer_i,
  input  logic [Lanes*TableBits-1:0]          rtable_i,
  input  logic [Lanes*CodeBits-1:0]           rcodes_i,
  output logic [Lanes*EntryBits-1:0]          rdata_o
);

  localparam int unsigned Depth    = Layers * (2 ** TableBits) * (2 ** CodeBits);
  localparam int unsigned AddrBits = $clog2(Depth);

  // The address {layer, table, code} (without the layer bit when only one layer is resident) equals
  // layer * 2^(TableBits+CodeBits) + table * 2^CodeBits + code, so the
  // array holds exactly Layers slots even when Layers is not a power of two.
  logic [EntryBits-1:0] mem_q [Depth];
  logic [AddrBits-1:0]  waddr;

  assign waddr = AddrBits'({wlayer_i, wtable_i, windex_i});

  always_ff @(posedge clk_i) begin
    if (we_i) begin
      mem_q[waddr] <= wdata_i;
    end
  end

  for (genvar l = 0; l < Lanes; l++) begin : gen_read
    logic [AddrBits-1:0] raddr;
    assign raddr = AddrBits'({rlayer_i, rtable_i[l*TableBits +: TableBits], rcodes_i[l*CodeBits +: CodeBits]});
    assign rdata_o[l*EntryBits +: EntryBits] = mem_q[raddr];
  end

`ifndef SYNTHESIS
  initial begin : legal_params
    LutDepth : assert (Depth >= 32) else $fatal(1, "sop_lut: bad size");
    CodeWidth : assert (CodeBits == 4 || CodeBits == 6) else $fatal(1, "sop_lut: CodeBits must be 4 or 6");
    TableWidth : assert (TableBits >= 1 && TableBits <= 4) else $fatal(1, "sop_lut: TableBits must be 1..4");
  end
`endif

endmodule
