// libsystemc brings its own main(), which calls sc_main, and the shared library needs the symbol at
// link time. sop's programs have their own main() and run the SystemC kernel from sysc::simulate()
// instead, so this entry point is never taken. Compiled into every executable that links sop_tlm
// (an INTERFACE source of the library, model/tlm/CMakeLists.txt).
extern "C" int sc_main(int, char**) { return 1; }
