"""Single-point mutants of rtl/ for the mutation test of the RTL regression (rtl_mutants.py, docs/rtl.md).

Each mutant is one textual replacement in one file of a copy of rtl/: `find` must occur exactly once in
that file (the run refuses a mutant whose text has drifted), `replace` takes its place. A mutant must
verilate in every configuration of the regression and of the system model; it should change behaviour
the regression can see (no equivalent mutants: an equivalent one would "survive" by right).
"""

UNIT = "sop_decode_unit.sv"
MUL = "sop_lane_mul.sv"
LUT = "sop_lut.sv"

STAGE_FREE = "assign stage_free  = stg_ready[0];"
FIRE_EXPR = "use_hold && !hold_hit_q && !hold_stale_q && stage_free"
FIRE = "assign fire        = " + FIRE_EXPR + ";"
RES_READY = "assign res_ready_o = in_valid_i && (fill || !hold_valid_q || res_hit || res_stale);"

MUTANTS = [
    # ---- datapath ----
    dict(id="dp-merge-inverted", kind="datapath", file=UNIT,
         what="lane entry mux inverted: residual entry where none, LUT entry where one",
         find="assign entry = ovr_mask_q[l] ? ovr_entry_q[l*EntryBits +: EntryBits]\n"
              "                                  : lut_rdata[l*EntryBits +: EntryBits];",
         replace="assign entry = ovr_mask_q[l] ? lut_rdata[l*EntryBits +: EntryBits]\n"
                 "                                  : ovr_entry_q[l*EntryBits +: EntryBits];"),
    dict(id="dp-scale-hidden-bit", kind="datapath", file=MUL,
         what="subnormal scales keep the hidden bit",
         find="assign s_man = {!s_sub, scale_i[ScaleManBits-1:0]};",
         replace="assign s_man = {1'b1, scale_i[ScaleManBits-1:0]};"),
    # ---- sign ----
    dict(id="sign-scale-ignored", kind="sign", file=UNIT,
         what="the scale's sign is not applied",
         find="= sgn_neg[l] ? -prod : prod;",
         replace="= prod;"),
    dict(id="sign-hif-entry-unsigned", kind="sign", file=MUL,
         what="HIF entry mantissa read as unsigned (sign bit cleared)",
         find="assign e_man = $signed(entry_i[sop_decode_pkg::HifManBits-1:0]);",
         replace="assign e_man = $signed({1'b0, entry_i[sop_decode_pkg::HifManBits-2:0]});"),
    dict(id="sign-fp16-wrong-bit", kind="sign", file=MUL,
         what="FP16 entry sign taken from bit 14 instead of 15",
         find="assign e_man = entry_i[15] ?",
         replace="assign e_man = entry_i[14] ?"),
    # ---- exponent ----
    dict(id="exp-subnormal-scale", kind="exponent", file=MUL,
         what="subnormal scale exponent 0 instead of 1",
         find="assign s_exp = s_sub ? ScaleExpBits'(1) : s_exp_field;",
         replace="assign s_exp = s_exp_field;"),
    dict(id="exp-fp16-subnormal", kind="exponent", file=MUL,
         what="FP16 subnormal entry exponent 0 instead of 1",
         find="assign e_exp = (f_exp == 5'd0) ? 5'd1 : f_exp;",
         replace="assign e_exp = f_exp;"),
    dict(id="exp-carry-dropped", kind="exponent", file=MUL,
         what="exponent sum loses its top bit (the carry)",
         find="assign exp_o  = ProdExpBits'(e_exp) + ProdExpBits'(s_exp);",
         replace="assign exp_o  = (ProdExpBits'(e_exp) + ProdExpBits'(s_exp)) & ~(ProdExpBits'(1) << (ProdExpBits - 1));"),
    # ---- LUT addressing ----
    dict(id="lut-read-layer-table-swapped", kind="LUT addressing", file=LUT,
         what="read address {table, layer, code} instead of {layer, table, code}",
         find="assign raddr = AddrBits'({rlayer_i, rtable_i[l*TableBits +: TableBits], rcodes_i[l*CodeBits +: CodeBits]});",
         replace="assign raddr = AddrBits'({rtable_i[l*TableBits +: TableBits], rlayer_i, rcodes_i[l*CodeBits +: CodeBits]});"),
    dict(id="lut-write-index-bit0", kind="LUT addressing", file=LUT,
         what="table load writes entry i^1",
         find="assign waddr = AddrBits'({wlayer_i, wtable_i, windex_i});",
         replace="assign waddr = AddrBits'({wlayer_i, wtable_i, windex_i ^ CodeBits'(1)});"),
    dict(id="lut-lanes-reversed", kind="LUT addressing", file=LUT,
         what="lane l reads lane Lanes-1-l's code",
         find="rcodes_i[l*CodeBits +: CodeBits]});",
         replace="rcodes_i[(Lanes-1-l)*CodeBits +: CodeBits]});"),
    # ---- select bit ----
    dict(id="sel-ignored", kind="select bit", file=UNIT,
         what="the select bit is not used: always table 0",
         find=".rtable_i(in_sel_i),",
         replace=".rtable_i('0),"),
    dict(id="sel-inverted", kind="select bit", file=UNIT,
         what="the select bit inverted",
         find=".rtable_i(in_sel_i),",
         replace=".rtable_i(~in_sel_i),"),
    # ---- residual merge ----
    dict(id="res-hit-boundary", kind="residual merge", file=UNIT,
         what="a residual taken at the next beat's first weight counts as this beat's (offset <= Lanes)",
         find="&& sub_lo[CmpBits-1:0] < CmpBits'(Lanes)));",
         replace="&& sub_lo[CmpBits-1:0] <= CmpBits'(Lanes)));"),
    dict(id="res-hit-boundary-next", kind="residual merge", file=UNIT,
         what="after a beat issues, a held residual at the following beat's end counts as the next beat's",
         find="&& (hold_off_q[CmpBits-1:0] < CmpBits'(2 * Lanes));",
         replace="&& (hold_off_q[CmpBits-1:0] <= CmpBits'(2 * Lanes));"),
    dict(id="res-offset-not-lowered", kind="residual merge", file=UNIT,
         what="a held residual's offset is not lowered by Lanes when a beat issues",
         find="hold_off_d   = hold_off_q - IndexBits'(Lanes);",
         replace="hold_off_d   = hold_off_q;"),
    dict(id="res-fill-ignored", kind="residual merge", file=UNIT,
         what="a tensor's first beat does not refill the holding register (the last tensor's sentinel stays)",
         find="assign fill      = in_valid_i && in_first_i && !filled_q;",
         replace="assign fill      = 1'b0;"),
    dict(id="res-mask-kept", kind="residual merge", file=UNIT,
         what="merged residuals are not cleared when the beat issues",
         find="ovr_mask_d = '0;",
         replace="ovr_mask_d = ovr_mask_q;"),
    dict(id="res-first-beat-base", kind="residual merge", file=UNIT,
         what="in_first_i ignored: a tensor's first beat starts at the last tensor's position",
         find="assign beat_base  = in_first_i ? '0 : count_q;",
         replace="assign beat_base  = count_q;"),
    dict(id="res-count-old-base", kind="residual merge", file=UNIT,
         what="the position advances from the old count, not the beat's start",
         find="count_d    = beat_base + IndexBits'(Lanes);",
         replace="count_d    = count_q + IndexBits'(Lanes);"),
    # ---- reset values ----
    dict(id="reset-out-valid", kind="reset value", file=UNIT,
         what="the stages' valid bits (out_valid_o among them) reset to 1",
         find="stg_valid_q  <= '0;",
         replace="stg_valid_q  <= '1;"),
    dict(id="reset-ovr-mask", kind="reset value", file=UNIT,
         what="override mask resets to all ones",
         find="ovr_mask_q   <= '0;",
         replace="ovr_mask_q   <= '1;"),
    # ---- valid/ready handshakes ----
    dict(id="hs-res-ready-no-stale", kind="handshake", file=UNIT,
         what="res_ready_o ignores the stale-residual condition",
         find=RES_READY,
         replace="assign res_ready_o = in_valid_i && (fill || !hold_valid_q || res_hit);"),
    dict(id="hs-load-ready-0", kind="handshake", file=UNIT,
         what="load_ready_o stuck at 0",
         find="assign load_ready_o = 1'b1;",
         replace="assign load_ready_o = 1'b0;"),
    dict(id="hs-fire-ignores-res-valid", kind="handshake", file=UNIT,
         what="a beat issues with nothing in the residual holding register",
         find=FIRE,
         replace="assign fire        = in_valid_i && !fill && !hold_hit_q && !hold_stale_q && stage_free;"),
    dict(id="hs-out-valid-drops", kind="handshake", file=UNIT,
         what="a stage's valid bit (out_valid_o among them) drops after one cycle without the next stage ready",
         find="stg_valid_d[s] = stg_load[s] || (stg_valid_q[s] && !stg_ready[s+1]);",
         replace="stg_valid_d[s] = stg_load[s];"),
    dict(id="hs-stage-ignored", kind="handshake", file=UNIT,
         what="a beat issues over an unaccepted one",
         find=STAGE_FREE,
         replace="assign stage_free  = 1'b1;"),
    dict(id="hs-res-waits-for-stage", kind="handshake", file=UNIT,
         what="residuals are taken only while the output stage is free",
         find=RES_READY,
         replace="assign res_ready_o = in_valid_i && stage_free && (fill || !hold_valid_q || res_hit || res_stale);"),
    # ---- extra cycles ----
    dict(id="cycle-per-beat", kind="extra cycle per beat", file=UNIT,
         what="a bubble after every beat: the stage must be empty to issue",
         find=STAGE_FREE,
         replace="assign stage_free  = !stg_valid_q[0];"),
    dict(id="cycle-per-beat-offered", kind="extra cycle per beat", file=UNIT,
         what="a beat must have been offered for a cycle before it issues",
         find=FIRE,
         replace="logic offered_q;\n"
                 "  always_ff @(posedge clk_i or negedge rst_ni) begin\n"
                 "    if (!rst_ni) offered_q <= 1'b0;\n"
                 "    else         offered_q <= in_valid_i && !fire;\n"
                 "  end\n"
                 "  assign fire        = offered_q && " + FIRE_EXPR + ";"),
    dict(id="cycle-per-chunk", kind="extra cycle per chunk", file=UNIT,
         what="the first beat of a chunk (in_first_i) waits for the output to drain",
         find=STAGE_FREE,
         replace="assign stage_free  = stg_ready[0] && (!in_first_i || stg_valid_q == '0);"),
    dict(id="cycle-after-load", kind="extra cycle per layer", file=UNIT,
         what="no beat issues in the cycle after a table load",
         find=FIRE,
         replace="logic loaded_q;\n"
                 "  always_ff @(posedge clk_i or negedge rst_ni) begin\n"
                 "    if (!rst_ni) loaded_q <= 1'b0;\n"
                 "    else         loaded_q <= load_valid_i;\n"
                 "  end\n"
                 "  assign fire        = " + FIRE_EXPR + "\n"
                 "                       && !(loaded_q && !load_valid_i);"),
    dict(id="cycle-per-layer-switch", kind="extra cycle per layer", file=UNIT,
         what="a beat from another layer slot than the last waits one cycle",
         find=FIRE,
         replace="logic [LayerBits-1:0] last_layer_q;\n"
                 "  always_ff @(posedge clk_i or negedge rst_ni) begin\n"
                 "    if (!rst_ni)         last_layer_q <= '0;\n"
                 "    else if (in_valid_i) last_layer_q <= in_layer_i;\n"
                 "  end\n"
                 "  assign fire        = " + FIRE_EXPR + "\n"
                 "                       && (in_layer_i == last_layer_q);"),
    # Beats of several blocks (issue 10): each lane must take its own block's scale and select bit.
    dict(id="lane-scale-from-lane0", kind="datapath (multi-block beat)", file=UNIT,
         what="every lane multiplies by lane 0's scale",
         find=".scale_i(mul_scale[l*ScaleBits +: ScaleBits]),",
         replace=".scale_i(mul_scale[0 +: ScaleBits]),"),
    # Only the T = 8 configuration (rtl_tb_hif_l8_t8) sees a selector's upper bits.
    dict(id="sel-upper-bits-dropped", kind="select bit (T tables)", file=LUT,
         what="a lane's selector keeps only its low bit: T > 2 tables read as the pair",
         find="rtable_i[l*TableBits +: TableBits], rcodes_i",
         replace="TableBits'(rtable_i[l*TableBits]), rcodes_i"),
    dict(id="lane-select-from-lane0", kind="select bit (multi-block beat)", file=LUT,
         what="every lane reads the table lane 0's block selects",
         find="assign raddr = AddrBits'({rlayer_i, rtable_i[l*TableBits +: TableBits], rcodes_i[l*CodeBits +: CodeBits]});",
         replace="assign raddr = AddrBits'({rlayer_i, rtable_i[0 +: TableBits], rcodes_i[l*CodeBits +: CodeBits]});"),
    # The pipeline stages (issue 12): caught only by the configurations with PipeStages > 1.
    dict(id="pipe-stage-overwrite", kind="pipeline (PipeStages > 1)", file=UNIT,
         what="a stage before the output takes a beat while it holds one the next stage cannot take",
         find="stg_ready[PipeStages-i] = !stg_valid_q[PipeStages-i] || stg_ready[PipeStages-i+1];",
         replace="stg_ready[PipeStages-i] = (i == 1) ? (!stg_valid_q[PipeStages-i] || stg_ready[PipeStages-i+1]) : 1'b1;"),
    dict(id="pipe-mul-reg-enable", kind="pipeline (PipeStages = 3)", file=UNIT,
         what="the register after the multiply loads when a beat issues, not when stage 1's beat moves on",
         find="if (stg_load[1]) begin",
         replace="if (stg_load[0]) begin"),
]
