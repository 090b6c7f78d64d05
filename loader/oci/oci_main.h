// catload-oci's entry point (oci_main.cc): catload's main calls it when run by that name.
#pragma once

namespace cat::oci {

int Main(int argc, char** argv);

}  // namespace cat::oci
