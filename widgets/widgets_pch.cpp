// Translation unit that carries the precompiled Qt Widgets and QCustomPlot headers (see
// widgets/CMakeLists.txt).
