# Serves config.ru with WEBrick (Debian's ruby-rack and ruby-webrick).
require 'rack'
require 'webrick'
app, = Rack::Builder.parse_file(File.join(__dir__, 'config.ru'))
Rack::Handler::WEBrick.run(app, Host: '127.0.0.1', Port: Integer(ARGV[0]),
                           Logger: WEBrick::Log.new(File::NULL), AccessLog: [])
